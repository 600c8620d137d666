import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memorySharing } from '../../src/index.js';
import { deviceSignIn, type DevicePrompt } from '../../src/node.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// Review (issue 26): a `{ path }` store given to two credentials (two issuers, a copied file, a script reusing one
// path for every profile) holds one's refresh token where the other reads it. It was sent to the other issuer — a
// secret handed to a third party — and that issuer's invalid_grant then deleted the first one's sign-in.

let provider: OpenIdProvider;
let other: OpenIdProvider;
let home: string;
const clientId = 'device-cli';

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  other = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  home = mkdtempSync(path.join(tmpdir(), 'review-device-other-'));
});

afterAll(async () => {
  await provider.close();
  await other.close();
  rmSync(home, { recursive: true, force: true });
});

it('a stored refresh token of another issuer is never sent to this one (corrupt_storage), nor deleted by it', async () => {
  const file = path.join(home, 'two-issuers', 'token.json');
  const prompts: DevicePrompt[] = [];
  const first = deviceSignIn({ issuer: provider.issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: (prompt) => prompts.push(prompt) });
  const pending = first.signIn();
  await expect.poll(() => prompts.length, { timeout: 10_000 }).toBe(1);
  await approveDeviceSignIn(prompts[0]!.verificationUri, prompts[0]!.userCode, { login: 'alice' });
  await pending;
  await first.close();

  const stranger = deviceSignIn({ issuer: other.issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: () => expect.fail('prompted') });
  await expect(stranger.getToken()).rejects.toMatchObject({ name: 'SessionError', code: 'corrupt_storage' });
  await expect(stranger.signIn()).rejects.toMatchObject({ name: 'SessionError', code: 'corrupt_storage' });
  await stranger.close();
  expect({ sentToOtherIssuer: other.counts.refreshRequests, stillStored: existsSync(file) }).toEqual({ sentToOtherIssuer: 0, stillStored: true });

  // The first credential's sign-in is intact.
  const again = deviceSignIn({ issuer: provider.issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: () => expect.fail('prompted') });
  expect(await provider.introspect((await again.getToken()).accessToken)).toMatchObject({ active: true, sub: 'alice' });
  await again.signOut();
  await again.close();
}, 30_000);
