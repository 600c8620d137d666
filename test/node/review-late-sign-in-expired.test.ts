import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSessionError, memorySharing } from '../../src/index.js';
import { deviceSignIn, type DevicePrompt } from '../../src/node.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';

/**
 * Never an expired token handed out: a device sign-in whose token answer and both retries (SessionCore.fetchToken's
 * late-answer rule) came after their tokens expired must not return that dead token from `signIn()`. It fails
 * `token_expired` with the grant kept: the next getToken continues it, no refresh token sent twice.
 */

const clientId = 'device-cli';
const LATE = { ttl: 1, delay: 1_500 } as const;
const TIMELY = { ttl: 60, delay: 0 } as const;
let op: OpenIdProvider;
let home: string;

beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  home = mkdtempSync(path.join(tmpdir(), 'review-late-sign-in-'));
});
afterAll(async () => {
  await op.close();
  rmSync(home, { recursive: true, force: true });
});
beforeEach(() => op.reset());

describe('a device sign-in answered late three times', () => {
  it('signIn() hands out no expired token: token_expired; the next getToken continues the grant, nothing reused', async () => {
    const prompts: DevicePrompt[] = [];
    const session = deviceSignIn({ issuer: op.issuer, clientId, sharing: memorySharing(), store: { path: path.join(home, 'token.json') }, onPrompt: (prompt) => prompts.push(prompt) });
    op.planTokenAnswers([LATE, LATE, LATE]);
    const signedIn = session.signIn().then(
      (token) => ({ token }),
      (error: unknown) => ({ error }),
    );
    await expect.poll(() => prompts.length, { timeout: 10_000 }).toBe(1);
    await approveDeviceSignIn(prompts[0]!.verificationUri, prompts[0]!.userCode, { login: 'alice' });
    const outcome = await signedIn;
    if ('token' in outcome) expect(outcome.token.expiresAt, 'an expired token handed out by signIn()').toBeGreaterThan(Date.now());
    else expect(isSessionError(outcome.error, 'token_expired'), String(outcome.error)).toBe(true);
    expect(op.counts).toMatchObject({ refreshRequests: 2, reusedRefreshTokens: 0, revokedGrants: 0 });
    op.planTokenAnswers([TIMELY]);
    const token = await session.getToken();
    expect(token.expiresAt).toBeGreaterThan(Date.now());
    expect(op.counts).toMatchObject({ refreshRequests: 3, reusedRefreshTokens: 0, revokedGrants: 0 });
    expect(prompts).toHaveLength(1);
    await session.close();
  }, 60_000);
});
