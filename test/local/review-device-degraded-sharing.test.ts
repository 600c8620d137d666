import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import type { DeviceAnswer, DeviceEvent, DeviceRequest } from '../support/device-worker.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';
import { forkTestProcess, stopTestProcesses, type TestProcess } from '../support/test-process.js';

// Review (issue 26): `localSharing` degrades to "this process alone" when its rendezvous directory is unfit — made by
// another user first (/tmp/shared-session-<uid> when XDG_RUNTIME_DIR is unset: a cron job), open to others, a path
// too long, Windows. For a client secret that costs token requests; for the device sign-in's one stored refresh
// token it means every process of a batch sends the same refresh token, and the provider's reuse detection revokes
// the person's sign-in. A refresh token is never sent twice: the batch must not spend it more than once.

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
  home = mkdtempSync(path.join(tmpdir(), 'review-degraded-'));
});

afterAll(async () => {
  await stopTestProcesses(members);
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});

async function start(count: number, dir: string): Promise<Member[]> {
  const config = { issuer: provider.issuer, clientId, file: path.join(home, 'config', 'token.json'), dir };
  const started = await Promise.all(Array.from({ length: count }, () => forkTestProcess<DeviceEvent, Command>(script, { DEVICE_WORKER: JSON.stringify(config) }, { plain: true })));
  members.push(...started);
  return started;
}

it('a batch whose rendezvous directory is unfit (open to others) does not send the stored refresh token more than once', async () => {
  // The run that signed in had a fit rendezvous.
  const [first] = await start(1, path.join(home, 'fit'));
  const signedIn = first!.request<DeviceAnswer>({ cmd: 'signIn' });
  await expect.poll(() => first!.events.filter((event) => event.event === 'prompt').length, { timeout: 15_000 }).toBe(1);
  const prompt = first!.events.find((event) => event.event === 'prompt') as Extract<DeviceEvent, { event: 'prompt' }>;
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login: 'alice' });
  expect(await signedIn).toHaveProperty('accessToken');
  await stopTestProcesses([first!]);

  // The next run: its rendezvous directory is one others can write to (as one another user made first would be refused).
  const unfit = path.join(home, 'unfit');
  mkdirSync(unfit);
  chmodSync(unfit, 0o777);
  const batch = await start(4, unfit);
  const answers = await Promise.all(batch.map((member) => member.request<DeviceAnswer>({ cmd: 'getToken' })));
  const outcome = { reused: provider.counts.reusedRefreshTokens, revoked: provider.counts.revokedGrants, refreshes: provider.counts.refreshRequests };
  expect(outcome, JSON.stringify(answers.map((answer) => ('code' in answer ? answer.code : 'token')))).toMatchObject({ reused: 0, revoked: 0 });
  expect(answers.every((answer) => 'accessToken' in answer)).toBe(true);
  // The lock beside the store is gone once the refreshes ended.
  expect(readdirSync(path.join(home, 'config'))).toEqual(['token.json']);
}, 60_000);
