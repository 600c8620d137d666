import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';
import { discover } from '../../src/oidc/protocol.js';
import { completeAuthorization, createAuthorization } from '../../src/oidc/sign-in.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { signInAtProvider } from '../support/provider-grant.js';

/**
 * A sign-in whose code exchange and both retries are answered after their tokens expired: the sign-in must not
 * hand out the expired token (never an expired token handed out); it fails `token_expired` with the grant kept.
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const scope = 'openid offline_access api';
const LATE = { ttl: 1, delay: 1_500 } as const;
const TIMELY = { ttl: 60, delay: 0 } as const;
let op: OpenIdProvider;

beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
});
afterAll(() => op.close());
beforeEach(() => op.reset());

describe('a sign-in answered late three times', () => {
  it('hands out no expired token: token_expired, and the next getToken continues the grant', async () => {
    const provider = oidcProvider({ issuer: op.issuer, clientId: 'web', scope });
    const session = createSession({ provider, sharing: memorySharing() });
    const as = await discover({ issuer: op.issuer, fetch });
    const { url, transaction } = await createAuthorization(as, { key: session.key, clientId: 'web', scope, redirectUri, returnTo: '/', popup: false, now: Date.now() });
    const callback = await signInAtProvider(op, url);
    op.planTokenAnswers([LATE, LATE, LATE]);
    const outcome = await completeAuthorization(session, as, 'web', callback.searchParams, transaction, async () => undefined).then(
      (token) => ({ token }),
      (error: unknown) => ({ error }),
    );
    if ('token' in outcome) expect(outcome.token.expiresAt, 'an expired token handed out by the sign-in').toBeGreaterThan(Date.now());
    else expect(isSessionError(outcome.error, 'token_expired'), String(outcome.error)).toBe(true);
    expect(op.counts).toMatchObject({ codeExchanges: 1, refreshRequests: 2, reusedRefreshTokens: 0, revokedGrants: 0 });
    op.planTokenAnswers([TIMELY]);
    const token = await session.getToken();
    expect(token.expiresAt).toBeGreaterThan(Date.now());
    expect(op.counts).toMatchObject({ codeExchanges: 1, refreshRequests: 3, reusedRefreshTokens: 0, revokedGrants: 0 });
    await session.close();
  }, 30_000);
});
