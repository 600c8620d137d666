import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, memorySharing, refreshTokenGrant, type Session, type SessionError, type Token } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';
import { discover } from '../../src/oidc/protocol.js';
import { completeAuthorization, createAuthorization } from '../../src/oidc/sign-in.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { signInAtProvider, startProviderGrant } from '../support/provider-grant.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

/**
 * A refresh answer that arrives after its access token expired (a busy machine, a slow network, a provider's tiny
 * `expires_in`) is never handed out, but the refresh token it brings is the grant's next one (rotation spent the one
 * sent): the session keeps it and asks again with it — at most twice more — instead of throwing it away and then
 * sending the spent one (the provider revokes the grant) or signing out. Against oidc-provider's rotation with reuse
 * detection (test/support/openid-provider.ts), whose answers leave late by plan (`planTokenAnswers`).
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const scope = 'openid offline_access api';
let op: OpenIdProvider;
let server: TokenServer;

/** A late answer: a 1 s token whose answer leaves 1.5 s after it was issued (expired on arrival, whatever the load). */
const LATE = { ttl: 1, delay: 1_500 } as const;
/** A timely answer: a minute-long token, answered at once (still alive on a loaded machine). */
const TIMELY = { ttl: 60, delay: 0 } as const;

beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
  server = await startTokenServer();
});
afterAll(() => Promise.all([op.close(), server.close()]));
beforeEach(() => {
  op.reset();
  server.reset();
});

async function failure(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejected: unknown) => rejected,
  );
  expect(isSessionError(error), String(error)).toBe(true);
  return error as SessionError;
}

/** Every token `session` hands out, checked alive when handed out. */
function watchHandedOut(session: Session): { expiredHandedOut: number; get: () => Promise<Token> } {
  const watch = {
    expiredHandedOut: 0,
    get: async () => {
      const token = await session.getToken();
      if (token.expiresAt <= Date.now()) watch.expiredHandedOut++;
      return token;
    },
  };
  return watch;
}

async function apiStatus(accessToken: string): Promise<number> {
  return (await fetch(op.apiUrl, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

describe('refreshTokenGrant (memory): a late refresh answer keeps the grant', () => {
  it('one late answer: asked again with its refresh token, once; the next token is alive; nothing reused or revoked', async () => {
    const grant = await startProviderGrant(op, { clientId: 'web', redirectUri, scope });
    const session = createSession({ provider: refreshTokenGrant({ tokenUrl: grant.tokenUrl, clientId: 'web', refreshToken: grant.refreshToken }), sharing: memorySharing() });
    const errors: SessionError[] = [];
    session.on('error', (error) => errors.push(error));
    const watch = watchHandedOut(session);
    op.planTokenAnswers([LATE, TIMELY]);
    const token = await watch.get();
    expect(op.counts).toMatchObject({ refreshRequests: 2, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
    expect(await apiStatus(token.accessToken)).toBe(200);
    // Recovered: nothing to report.
    expect(errors).toEqual([]);
    // Still signed in: the next refresh continues the chain.
    await session.getToken({ forceRefresh: true });
    expect(op.counts).toMatchObject({ refreshRequests: 3, reusedRefreshTokens: 0, revokedGrants: 0 });
    expect(watch.expiredHandedOut).toBe(0);
    await session.close();
  });

  it('late answers in a row: 3 requests, then token_expired with the grant kept; the next call refreshes from the newest refresh token', async () => {
    const grant = await startProviderGrant(op, { clientId: 'web', redirectUri, scope });
    const session = createSession({ provider: refreshTokenGrant({ tokenUrl: grant.tokenUrl, clientId: 'web', refreshToken: grant.refreshToken }), sharing: memorySharing() });
    const watch = watchHandedOut(session);
    const errors: string[] = [];
    session.on('error', (reported) => errors.push(reported.code));
    op.planTokenAnswers([LATE, LATE, LATE]);
    const error = await failure(watch.get());
    expect(error.code).toBe('token_expired');
    expect(errors).toEqual(['token_expired']);
    expect(op.counts).toMatchObject({ refreshRequests: 3, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
    // The grant goes on from the third answer's refresh token: once late again, then timely.
    op.planTokenAnswers([LATE, TIMELY]);
    const token = await watch.get();
    expect(await apiStatus(token.accessToken)).toBe(200);
    expect(op.counts).toMatchObject({ refreshRequests: 5, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
    expect(watch.expiredHandedOut).toBe(0);
    await session.close();
  });
});

describe('oidcSession\'s provider (oauth4webapi, memory): late code exchange and late refresh', () => {
  it('a late code exchange and a late refresh: each continued from its answer\'s refresh token; signed in after, 0 reused', async () => {
    const provider = oidcProvider({ issuer: op.issuer, clientId: 'web', scope });
    const session = createSession({ provider, sharing: memorySharing() });
    const watch = watchHandedOut(session);
    const as = await discover({ issuer: op.issuer, fetch });
    const { url, transaction } = await createAuthorization(as, { key: session.key, clientId: 'web', scope, redirectUri, returnTo: '/', popup: false, now: Date.now() });
    const callback = await signInAtProvider(op, url);
    // The code exchange's answer is late: its refresh token is exchanged at once for a live token.
    op.planTokenAnswers([LATE, TIMELY]);
    const signedIn = await completeAuthorization(session, as, 'web', callback.searchParams, transaction, async () => undefined);
    expect(signedIn.expiresAt).toBeGreaterThan(Date.now());
    expect(op.counts).toMatchObject({ codeExchanges: 1, refreshRequests: 1, reusedRefreshTokens: 0, revokedGrants: 0 });
    op.planTokenAnswers([LATE, LATE, TIMELY]);
    const refreshed = await session.getToken({ forceRefresh: true });
    expect(await apiStatus(refreshed.accessToken)).toBe(200);
    expect(op.counts).toMatchObject({ codeExchanges: 1, refreshRequests: 4, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
    op.planTokenAnswers([LATE, LATE, LATE]);
    expect((await failure(session.getToken({ forceRefresh: true }))).code).toBe('token_expired');
    // The token of before is still alive and handed out; a refresh continues the grant from the newest refresh token.
    expect((await watch.get()).accessToken).toBe(refreshed.accessToken);
    const after = await session.getToken({ forceRefresh: true });
    expect(await apiStatus(after.accessToken)).toBe(200);
    expect(op.counts).toMatchObject({ refreshRequests: 8, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
    expect(watch.expiredHandedOut).toBe(0);
    await session.close();
  });
});

// No grant to keep, so nothing is asked again: another context (a new leader, a follower's token) may already have
// served everyone, and a request per late answer would break "one token request per token lifetime".
describe('client_credentials (no refresh token): a late answer is not asked again', () => {
  it('a late answer: 1 request, token_expired, nothing expired handed out; timely again: one request', async () => {
    const client = server.addClient('late-client');
    const session = createSession({ provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }), sharing: memorySharing() });
    server.lifetime = 1;
    server.latency = 1_500;
    expect((await failure(session.getToken())).code).toBe('token_expired');
    expect(server.stats.tokenRequests).toBe(1);
    server.lifetime = 60;
    server.latency = 0;
    const token = await session.getToken();
    expect(token.expiresAt).toBeGreaterThan(Date.now());
    expect(server.stats.tokenRequests).toBe(2);
    await session.close();
  });
});
