import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSessionError, memorySharing } from '../../src/index.js';
import type { DevicePrompt } from '../../src/node.js';
import { openEO, type OpenEO } from '../../src/openeo.js';
import type { DeviceSession } from '../../src/node.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { startOpenEOServer, type OpenEOServer } from '../support/openeo-server.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// openEO({ url, signIn: 'device' }): the back-end's OIDC provider and device-flow default client read from
// /credentials/oidc (the stand-in back-end), the person signing in at a real oidc-provider (device flow, with PKCE
// required as EGI requires it of `device_code+pkce` clients), every request carrying `Bearer oidc/<id>/<token>`.

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
let provider: OpenIdProvider;
let backend: OpenEOServer;
let home: string;
let run = 0;
let store: string;
const open: OpenEO[] = [];
const savedRuntimeDir = process.env.XDG_RUNTIME_DIR;

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId: 'openeo-device', redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1, devicePkce: true });
  const live = async (token: string): Promise<boolean> => (await provider.introspect(token)).active;
  backend = await startOpenEOServer(() => [
    {
      id: 'egi',
      issuer: `${provider.issuer}/`,
      title: 'EGI Check-in (test provider)',
      isValid: live,
      scopes: ['openid', 'email'],
      defaultClients: [
        { id: 'browser-only', grant_types: ['authorization_code+pkce'] },
        { id: 'openeo-device', grant_types: [`${DEVICE}+pkce`, 'refresh_token'] },
      ],
    },
    { id: 'other', issuer: 'https://other.example', title: 'Other', isValid: () => false },
  ]);
  home = mkdtempSync(path.join(tmpdir(), 'openeo-device-'));
  // The device sign-in's default transport (localSharing) meets only this test's sessions.
  process.env.XDG_RUNTIME_DIR = home;
});

afterAll(async () => {
  if (savedRuntimeDir === undefined) delete process.env.XDG_RUNTIME_DIR;
  else process.env.XDG_RUNTIME_DIR = savedRuntimeDir;
  await Promise.all([provider.close(), backend.close()]);
  rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  run++;
  store = path.join(home, `config-${run}`, 'token.json');
  provider.reset();
  backend.reset();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((each) => each.close()));
});

/** An onPrompt that approves as the person `login` would, through the provider's own pages. */
function person(login: string): { onPrompt: (prompt: DevicePrompt) => void; prompts: DevicePrompt[]; approved: Promise<void>[] } {
  const prompts: DevicePrompt[] = [];
  const approved: Promise<void>[] = [];
  return {
    prompts,
    approved,
    onPrompt: (prompt) => {
      prompts.push(prompt);
      approved.push(approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login }).then(() => undefined));
    },
  };
}

function device(options: Partial<Parameters<typeof openEO>[0]> & { onPrompt?: (prompt: DevicePrompt) => void } = {}): OpenEO<DeviceSession> {
  const backEnd = openEO({ url: backend.url, signIn: 'device', store: { path: store }, ...options } as Parameters<typeof openEO>[0] & { signIn: 'device' });
  open.push(backEnd);
  return backEnd;
}

it('signs the person in on first use with the listed device client (PKCE), and every request carries Bearer oidc/egi/<token>', async () => {
  const alice = person('alice');
  const backEnd = device({ onPrompt: alice.onPrompt });
  expect(backEnd.session.getSnapshot().signedIn).toBe(false);
  const job = backend.finishedJob(3);
  const [results, me] = await Promise.all([backEnd.jobs.results(job), backEnd.fetch('me').then((response) => response.json())]);
  await Promise.all(alice.approved);
  expect(Object.keys(results.assets)).toHaveLength(3);
  expect(me).toMatchObject({ user_id: 'oidc:egi' });
  expect(alice.prompts).toHaveLength(1);
  expect(alice.prompts[0]).not.toHaveProperty('deviceCode');
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, refreshRequests: 0 });
  expect(provider.counts.devicePkceVerified).toBeGreaterThanOrEqual(1);
  const sent = backend.authorizations.filter((entry) => entry.path !== '/credentials/oidc');
  expect(sent.length).toBeGreaterThanOrEqual(2);
  for (const { authorization } of sent) expect(authorization).toMatch(/^Bearer oidc\/egi\/\S+$/);
  expect(await backEnd.providerId()).toBe('egi');
  expect(backEnd.session.getSnapshot().signedIn).toBe(true);

  // A later run (this one closed): the stored refresh token, no prompt.
  await backEnd.close();
  const later = person('alice');
  const again = device({ onPrompt: later.onPrompt });
  expect((await again.jobs.results(job)).assets).toHaveProperty('openEO_0.tif');
  expect(later.prompts).toHaveLength(0);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, refreshRequests: 1, reusedRefreshTokens: 0 });
}, 60_000);

it('after a sign-out it stays signed out (login_required) until session.signIn(), which prompts again', async () => {
  const bob = person('bob');
  // A transport of its own: this process's localSharing still holds the device provider of the test before.
  const backEnd = device({ onPrompt: bob.onPrompt, sharing: memorySharing() });
  await backEnd.session.signIn();
  expect(bob.prompts).toHaveLength(1);
  await backEnd.session.signOut();
  expect(provider.counts.revocations).toBe(1);
  await expect(backEnd.fetch('me')).rejects.toMatchObject({ code: 'login_required' });
  expect(bob.prompts).toHaveLength(1);
  await backEnd.session.signIn();
  expect(bob.prompts).toHaveLength(2);
  expect((await backEnd.fetch('me')).status).toBe(200);
}, 60_000);

describe('typed errors when the back-end offers no device sign-in', () => {
  it('providerId not listed → invalid_options; a provider without a device default client → unsupported_provider; nothing prompts', async () => {
    const nobody = person('nobody');
    const unknown = device({ providerId: 'nope', onPrompt: nobody.onPrompt });
    const error = await unknown.fetch('me').catch((caught: unknown) => caught);
    expect(isSessionError(error) && error.code).toBe('invalid_options');
    expect((error as Error).message).toContain('has no OIDC provider "nope" (providers: egi, other)');
    const other = device({ providerId: 'other', onPrompt: nobody.onPrompt });
    await expect(other.jobs.list()).rejects.toMatchObject({ code: 'unsupported_provider', message: expect.stringContaining('no default client for the device flow of provider other: pass clientId') });
    expect(nobody.prompts).toHaveLength(0);
    expect(provider.counts.deviceAuthorizations).toBe(0);
  });

  it('a back-end that lists no OIDC provider → unsupported_provider, and a failed discovery is tried again by the next call', async () => {
    const empty = await startOpenEOServer(() => []);
    try {
      const backEnd = openEO({ url: empty.url, signIn: 'device', store: false, onPrompt: () => undefined });
      open.push(backEnd);
      await expect(backEnd.fetch('me')).rejects.toMatchObject({ code: 'unsupported_provider' });
      await expect(backEnd.session.signIn()).rejects.toMatchObject({ code: 'unsupported_provider' });
      expect(empty.stats.discovery).toBe(2);
    } finally {
      await empty.close();
    }
  });

  it("signIn other than 'device' is invalid_options at once", () => {
    expect(() => openEO({ url: backend.url, signIn: 'browser' } as unknown as Parameters<typeof openEO>[0])).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });
});
