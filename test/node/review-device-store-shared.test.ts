import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { memorySharing } from '../../src/index.js';
import { deviceSignIn, type DevicePrompt } from '../../src/node.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// Review (issue 26): the refresh token's store is one file per credential in the user's configuration directory, but
// the processes share through a rendezvous directory ($XDG_RUNTIME_DIR, else the temporary directory): a cron job
// (no XDG_RUNTIME_DIR), `sudo -u`, a container or an explicit `localSharing({ dir })` reads and rotates the same
// stored refresh token without meeting the others (here: one transport each).

let provider: OpenIdProvider;
let home: string;
const clientId = 'device-cli';

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  home = mkdtempSync(path.join(tmpdir(), 'review-device-store-'));
});

afterAll(async () => {
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});

beforeEach(() => provider.reset());

async function signedIn(file: string) {
  const prompts: DevicePrompt[] = [];
  const session = deviceSignIn({ issuer: provider.issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: (prompt) => prompts.push(prompt) });
  const pending = session.signIn();
  await expect.poll(() => prompts.length, { timeout: 10_000 }).toBe(1);
  await approveDeviceSignIn(prompts[0]!.verificationUri, prompts[0]!.userCode, { login: 'alice' });
  await pending;
  return session;
}

it('a run that did not meet the running one rotated the stored refresh token: the running one does not send its spent one', async () => {
  provider.accessTokenTtl = 2;
  const file = path.join(home, 'diverged', 'token.json');
  const batch = await signedIn(file);
  // A second run on another rendezvous (a cron job without XDG_RUNTIME_DIR): it reads the stored refresh token and rotates it.
  const cron = deviceSignIn({ issuer: provider.issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: () => expect.fail('prompted') });
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  await cron.getToken();
  expect(provider.counts.reusedRefreshTokens).toBe(0);
  await cron.close();
  // The batch's token expires: its refresh must not send the refresh token the cron job spent.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  const token = await batch.getToken();
  expect(await provider.introspect(token.accessToken)).toMatchObject({ active: true, sub: 'alice' });
  expect({ reused: provider.counts.reusedRefreshTokens, revoked: provider.counts.revokedGrants }).toEqual({ reused: 0, revoked: 0 });
  await batch.signOut();
  await batch.close();
}, 30_000);
