import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import type { DeviceAnswer, DeviceEvent, DeviceRequest } from '../support/device-worker.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';
import { forkTestProcess, stopTestProcesses, type TestProcess } from '../support/test-process.js';

// Review (issue 26): the stored refresh token lives in the configuration directory, the rendezvous in
// $XDG_RUNTIME_DIR (else the temporary directory). A cron job has no XDG_RUNTIME_DIR; `sudo -u`, a container, a
// `localSharing({ dir })` differ too: two processes of one user on one store that never meet. The one that rotated
// the stored token last is right; the other must not send the refresh token it holds in memory once it is spent —
// the provider's reuse detection revokes the person's whole sign-in for it.

type Command = DeviceRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
type Member = TestProcess<DeviceEvent, Command>;

const script = path.resolve(import.meta.dirname, '../support/device-worker.mjs');
const clientId = 'device-review';
let provider: OpenIdProvider;
let home: string;
const members: Member[] = [];

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  home = mkdtempSync(path.join(tmpdir(), 'review-two-rdv-'));
});

afterAll(async () => {
  await stopTestProcesses(members);
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});

async function start(dir: string): Promise<Member> {
  const config = { issuer: provider.issuer, clientId, file: path.join(home, 'config', 'token.json'), dir: path.join(home, dir) };
  const member = await forkTestProcess<DeviceEvent, Command>(script, { DEVICE_WORKER: JSON.stringify(config) }, { plain: true });
  members.push(member);
  return member;
}

it('a run on another rendezvous rotated the stored refresh token: the batch refreshes from the stored one, no reuse, still signed in', async () => {
  const batch = await start('desktop');
  const signedIn = batch.request<DeviceAnswer>({ cmd: 'signIn' });
  await expect.poll(() => batch.events.filter((event) => event.event === 'prompt').length, { timeout: 15_000 }).toBe(1);
  const prompt = batch.events.find((event) => event.event === 'prompt') as Extract<DeviceEvent, { event: 'prompt' }>;
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login: 'alice' });
  expect(await signedIn).toHaveProperty('accessToken');

  // The cron job: another rendezvous, the same store. It reads the stored refresh token and rotates it.
  const cron = await start('cron');
  expect(await cron.request<DeviceAnswer>({ cmd: 'getToken', forceRefresh: true })).toHaveProperty('accessToken');
  expect(provider.counts).toMatchObject({ refreshRequests: 1, reusedRefreshTokens: 0 });

  // The batch refreshes next (its token near expiry): it must not send the refresh token the cron job spent.
  const after = await batch.request<DeviceAnswer>({ cmd: 'getToken', forceRefresh: true });
  expect({ reused: provider.counts.reusedRefreshTokens, revoked: provider.counts.revokedGrants }).toEqual({ reused: 0, revoked: 0 });
  expect(after).toHaveProperty('accessToken');
  // And the cron job's next run still works.
  expect(await cron.request<DeviceAnswer>({ cmd: 'getToken', forceRefresh: true })).toHaveProperty('accessToken');
  expect(provider.counts.reusedRefreshTokens).toBe(0);
}, 60_000);
