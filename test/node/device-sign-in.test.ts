import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { isSessionError, memorySharing } from '../../src/index.js';
import { deviceSignIn, type DevicePrompt } from '../../src/node.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// The device authorization grant (RFC 8628) in one process, against oidc-provider with its own user-code pages: the
// person approves through them with fetch, as in a browser. The cross-process promises are in test/local/device-*.

let provider: OpenIdProvider;
let defaultInterval: OpenIdProvider;
let expiring: OpenIdProvider;
let home: string;
const clientId = 'device-cli';

beforeAll(async () => {
  // Polls every second where the interval is not the promise; the slow_down test runs on RFC 8628's 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  defaultInterval = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true });
  expiring = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceCodeTtl: 2 });
  home = mkdtempSync(path.join(tmpdir(), 'device-sign-in-'));
});

afterAll(async () => {
  await provider.close();
  await defaultInterval.close();
  await expiring.close();
  rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  provider.reset();
  defaultInterval.reset();
});

/** A session on its own transport and file, with every prompt it shows kept. */
function open(name: string, issuer = provider.issuer) {
  const prompts: DevicePrompt[] = [];
  const file = path.join(home, name, 'token.json');
  const session = deviceSignIn({ issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: (prompt) => prompts.push(prompt) });
  return { session, prompts, file };
}

async function promptOf(prompts: DevicePrompt[]): Promise<DevicePrompt> {
  await expect.poll(() => prompts.length, { timeout: 10_000 }).toBe(1);
  return prompts[0]!;
}

it('signs the person in through the provider’s own pages, keeps only the refresh token (0600 in 0700), and a later run reuses it without a prompt', async () => {
  const first = open('first');
  const signedIn = first.session.signIn();
  const prompt = await promptOf(first.prompts);
  expect(prompt.verificationUriComplete).toMatch(/user_code=/);
  expect(prompt.expiresAt).toBeGreaterThan(Date.now());
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login: 'alice' });
  const token = await signedIn;
  expect(await provider.introspect(token.accessToken)).toMatchObject({ active: true, sub: 'alice' });
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1 });

  expect(statSync(first.file).mode & 0o777).toBe(0o600);
  expect(statSync(path.dirname(first.file)).mode & 0o777).toBe(0o700);
  const stored = readFileSync(first.file, 'utf8');
  expect(stored).not.toContain(token.accessToken);
  expect(Object.keys(JSON.parse(stored) as object).sort()).toEqual(['credential', 'refreshToken', 'v']);
  await first.session.close();

  // A new run (another transport: nothing shared in memory) with the same file: no prompt, one refresh.
  const second = deviceSignIn({ issuer: provider.issuer, clientId, sharing: memorySharing(), store: { path: first.file }, onPrompt: () => expect.fail('prompted again') });
  const again = await second.signIn();
  expect(again.accessToken).not.toBe(token.accessToken);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, refreshRequests: 1, reusedRefreshTokens: 0 });
  // The rotated refresh token replaced the spent one in the file.
  expect(readFileSync(first.file, 'utf8')).not.toBe(stored);

  await second.signOut();
  expect(() => statSync(first.file)).toThrow();
  expect(provider.counts.revocations).toBe(1);
  expect(await provider.introspect(again.accessToken)).toMatchObject({ active: expect.any(Boolean) });
  await expect(second.getToken()).rejects.toMatchObject({ code: 'login_required' });
  await second.close();
});

it('honours slow_down: each one adds 5 s to the interval, and the sign-in still completes', async () => {
  const { session, prompts } = open('slow', defaultInterval.issuer);
  defaultInterval.slowDownNext(1);
  const signedIn = session.signIn();
  const prompt = await promptOf(prompts);
  // Approved only after the slow_down was answered, so that the poll after it is measured.
  await expect.poll(() => defaultInterval.counts.slowDowns, { timeout: 15_000 }).toBe(1);
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login: 'bob' });
  await signedIn;
  const times = defaultInterval.devicePollTimes;
  // The default interval is 5 s; after slow_down, 10 s.
  expect(times.length).toBeGreaterThanOrEqual(2);
  expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(10_000 - 50);
  await session.signOut();
  await session.close();
}, 40_000);

it('no access token, refresh token or user code in any error or event: a sign-in, then a refresh the provider refuses (revoked)', async () => {
  const { session, prompts, file } = open('secrets');
  const seen: unknown[] = [];
  session.on('error', (error) => seen.push(error));
  session.on('token', (token, source) => seen.push({ event: 'token', expiresAt: token.expiresAt, source }));
  const signedIn = session.signIn();
  const prompt = await promptOf(prompts);
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login: 'erin' });
  const token = await signedIn;
  const refreshToken = (JSON.parse(readFileSync(file, 'utf8')) as { refreshToken: string }).refreshToken;
  await session.close();
  // The refresh token is revoked behind the session's back: the next run's refresh fails with invalid_grant.
  const again = deviceSignIn({ issuer: provider.issuer, clientId, sharing: memorySharing(), store: { path: file }, onPrompt: () => undefined });
  again.on('error', (error) => seen.push(error));
  await fetch(`${provider.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: refreshToken, client_id: clientId }),
  });
  const failed = await again.getToken().catch((caught: unknown) => caught);
  seen.push(failed);
  expect(failed).toMatchObject({ code: 'invalid_grant' });
  // The dead refresh token is not kept for the next run.
  expect(() => statSync(file)).toThrow();
  await again.close();
  const text = seen.map((item) => `${inspect(item, { depth: 8, showHidden: true })} ${JSON.stringify(item)}`).join('\n');
  for (const secret of [token.accessToken, refreshToken, prompt.userCode]) expect(text).not.toContain(secret);
}, 30_000);

it('a refused sign-in fails with access_denied, and nothing is stored', async () => {
  const { session, prompts, file } = open('denied');
  const signedIn = session.signIn();
  signedIn.catch(() => undefined);
  const prompt = await promptOf(prompts);
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login: 'carol', refuse: true });
  const error: unknown = await signedIn.catch((caught: unknown) => caught);
  expect(isSessionError(error, 'access_denied')).toBe(true);
  expect(JSON.stringify(error)).not.toContain(prompt.userCode);
  expect(() => statSync(file)).toThrow();
  await session.close();
}, 20_000);

it('a code nobody approves fails with expired_token once it expires (bounded by expires_in)', async () => {
  const { session, prompts } = open('expired', expiring.issuer);
  const started = performance.now();
  const error: unknown = await session.signIn().catch((caught: unknown) => caught);
  expect(prompts).toHaveLength(1);
  expect(isSessionError(error, 'expired_token')).toBe(true);
  // expires_in is 2 s: the first poll (at the 5 s interval) is past it, and no wait goes beyond the code's life.
  expect(performance.now() - started).toBeLessThan(6_000);
  await session.close();
}, 20_000);

it('is abortable: the polling stops and the caller gets aborted', { timeout: 20_000 }, async () => {
  const { session, prompts } = open('aborted');
  const controller = new AbortController();
  const signedIn = session.signIn({ signal: controller.signal });
  await promptOf(prompts);
  controller.abort();
  await expect(signedIn).rejects.toMatchObject({ code: 'aborted' });
  // The polling stopped with it: no poll in the next interval and a half (the provider names 1 s).
  const polls = provider.devicePollTimes.length;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(provider.devicePollTimes.length).toBe(polls);
  await session.close();
});
