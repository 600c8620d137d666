import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, memorySharing, refreshTokenGrant, type SessionError } from '../../src/index.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { startProviderGrant } from '../support/provider-grant.js';

/**
 * The late-answer rule (SessionCore.fetchToken, docs/reliability.md): answers that come after their tokens expired
 * cost at most 2 more requests, then `token_expired` with the grant kept. A second call that joins that request
 * while its last retry is on its way gets the same dead token: it must fail `token_expired` too, not start a
 * second chain of 3 requests (the transports' own rule: "Not for an expired one: its answers came late, as they
 * would again").
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const LATE = { ttl: 1, delay: 1_500 } as const;
let op: OpenIdProvider;
beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
});
afterAll(() => op.close());
beforeEach(() => op.reset());

it('a call joining the last late retry: token_expired with the first call, 3 requests in all, nothing reused', async () => {
  const grant = await startProviderGrant(op, { clientId: 'web', redirectUri });
  const session = createSession({ provider: refreshTokenGrant({ tokenUrl: grant.tokenUrl, clientId: 'web', refreshToken: grant.refreshToken }), sharing: memorySharing() });
  op.planTokenAnswers([LATE, LATE, LATE, LATE, LATE, LATE]);
  const first = session.getToken().then(() => 'token', (error: SessionError) => error.code);
  await expect.poll(() => op.counts.refreshRequests, { timeout: 15_000, interval: 20 }).toBe(3);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const second = session.getToken().then(() => 'token', (error: SessionError) => error.code);
  expect(await Promise.all([first, second])).toEqual(['token_expired', 'token_expired']);
  expect(op.counts).toMatchObject({ refreshRequests: 3, reusedRefreshTokens: 0, revokedGrants: 0 });
  await session.close();
}, 60_000);
