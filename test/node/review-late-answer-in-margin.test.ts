import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, memorySharing, refreshTokenGrant, type SessionError } from '../../src/index.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { startProviderGrant } from '../support/provider-grant.js';

/**
 * A refresh ahead of expiry (the token held is inside the refresh margin, still valid for a minute) whose answers all
 * come late (SessionCore.fetchToken: 3 requests, the grant kept): the calls that waited for it get the token that is
 * still valid, not `token_expired` — nothing was lost but the refresh, which the next call tries again.
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const LATE = { ttl: 1, delay: 1_500 } as const;
let op: OpenIdProvider;
beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
});
afterAll(() => op.close());
beforeEach(() => op.reset());

it('late answers to a refresh ahead of expiry: the calls get the still-valid token, 3 requests, nothing reused', async () => {
  const grant = await startProviderGrant(op, { clientId: 'web', redirectUri });
  // A 16 s token: refreshed ahead of expiry from its 8th second (the margin is clamped to half its life); the three
  // late answers take 4.5 s, so it is still valid for ~3 s when they are over.
  op.planTokenAnswers([{ ttl: 16, delay: 0 }, LATE, LATE, LATE]);
  const session = createSession({ provider: refreshTokenGrant({ tokenUrl: grant.tokenUrl, clientId: 'web', refreshToken: grant.refreshToken }), sharing: memorySharing() });
  const held = await session.getToken();
  await new Promise((resolve) => setTimeout(resolve, 8_500));
  // Inside the margin, while the refresh ahead of expiry runs its late answers.
  expect(op.counts.refreshRequests).toBeGreaterThanOrEqual(2);
  const outcomes = await Promise.all([0, 300].map(async (wait) => {
    await new Promise((resolve) => setTimeout(resolve, wait));
    return session.getToken().then((token) => token.accessToken, (error: SessionError) => error.code);
  }));
  expect(held.expiresAt).toBeGreaterThan(Date.now());
  expect(outcomes).toEqual([held.accessToken, held.accessToken]);
  expect(op.counts).toMatchObject({ refreshRequests: 4, reusedRefreshTokens: 0, revokedGrants: 0 });
  await session.close();
}, 60_000);
