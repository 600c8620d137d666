import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, type Session, type SessionError } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';
import { discover } from '../../src/oidc/protocol.js';
import type { SignedInUser } from '../../src/oidc/provider.js';
import { completeAuthorization, createAuthorization } from '../../src/oidc/sign-in.js';
import type { Transaction } from '../../src/oidc/storage.js';
import { startOpenIdProvider, type AuthorizationError, type OpenIdProvider, type OpenIdProviderOptions } from '../support/openid-provider.js';

/**
 * The sign-in protocol of `shared-session/oidc` against the real oidc-provider (test/support/openid-provider.ts),
 * in Node: the code flow through the provider's login form (driven with fetch and a cookie jar, as a browser would),
 * the code exchange and the rotation-safe refresh, and every failure the protocol can end in. What needs a browser
 * (IndexedDB transactions, history, popups, tabs) is in test/browser/oidc-*.test.ts.
 */

const app = 'http://127.0.0.1:9';
const redirectUri = `${app}/callback`;
const scope = 'openid offline_access profile email';
const providers: OpenIdProvider[] = [];
let op: OpenIdProvider;

async function startProvider(options: Partial<OpenIdProviderOptions> = {}): Promise<OpenIdProvider> {
  const started = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 4, ...options });
  providers.push(started);
  return started;
}

beforeAll(async () => {
  op = await startProvider();
});
afterAll(() => Promise.all(providers.map((provider) => provider.close())));
beforeEach(() => op.reset());

/** A browser's cookie jar for the provider's origin. */
class Browser {
  readonly cookies = new Map<string, string>();

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const equals = pair.indexOf('=');
      this.cookies.set(pair.slice(0, equals), pair.slice(equals + 1));
    }
    return response;
  }

  /** Follows redirects at `provider` until one leaves it (to the app): that URL, or the page it stopped at. */
  async follow(provider: OpenIdProvider, response: Response): Promise<{ left?: URL; page?: Response }> {
    let current = response;
    for (let hop = 0; hop < 10; hop++) {
      const location = current.headers.get('location');
      if (location === null) return { page: current };
      const next = new URL(location, provider.issuer);
      if (next.origin !== provider.issuer) return { left: next };
      current = await this.request(next.href);
    }
    throw new Error('too many redirects');
  }
}

/** The user opens `url`, types `login` into the provider's form and comes back: the callback URL. */
async function userSignsIn(provider: OpenIdProvider, url: URL, login = 'ada.lovelace'): Promise<URL> {
  const browser = new Browser();
  const toForm = await browser.follow(provider, await browser.request(url.href));
  const html = await toForm.page!.text();
  const action = new URL(/action="([^"]+)"/.exec(html)![1]!, provider.issuer);
  const submitted = await browser.request(action.href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login }).toString(),
  });
  const { left } = await browser.follow(provider, submitted);
  expect(left, 'the provider sends the browser back to the app').toBeDefined();
  return left!;
}

interface Flow {
  session: Session;
  transaction: Transaction;
  callback: URL;
  users: SignedInUser[];
  complete(response?: URLSearchParams, transaction?: Transaction): ReturnType<typeof completeAuthorization>;
}

/** A session of `provider` and a sign-in up to its callback (not completed). */
async function startFlow(provider = op, login = 'ada.lovelace', tokens = oidcProvider({ issuer: provider.issuer, clientId: 'web', scope })): Promise<Flow> {
  const session = createSession({ provider: tokens, sharing: memorySharing() });
  const as = await discover({ issuer: provider.issuer, fetch });
  const { url, transaction } = await createAuthorization(as, { key: session.key, clientId: 'web', scope, redirectUri, returnTo: '/', popup: false, now: Date.now() });
  const callback = await userSignsIn(provider, url, login);
  const users: SignedInUser[] = [];
  const received = async (user: SignedInUser): Promise<void> => {
    users.push(user);
  };
  return {
    session,
    transaction,
    callback,
    users,
    complete: (response = callback.searchParams, tx = transaction) => completeAuthorization(session, as, 'web', response, tx, received),
  };
}

async function failure(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejected: unknown) => rejected,
  );
  expect(isSessionError(error), String(error)).toBe(true);
  return error as SessionError;
}

async function callApi(provider: OpenIdProvider, accessToken: string): Promise<number> {
  return (await fetch(provider.apiUrl, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

describe('sign-in protocol (oauth4webapi) against oidc-provider', () => {
  it('the authorization request carries PKCE S256, state and nonce; the code is exchanged once; the ID token claims come back', async () => {
    const flow = await startFlow();
    const sent = new URL(flow.callback);
    expect(sent.searchParams.get('state')).toBe(flow.transaction.state);
    expect(sent.searchParams.get('iss')).toBe(op.issuer);
    expect(flow.transaction.codeVerifier.length).toBeGreaterThanOrEqual(43);
    expect(flow.transaction.nonce).toEqual(expect.any(String));

    const token = await flow.complete();
    expect(op.counts).toMatchObject({ authorizations: 1, codeExchanges: 1, failedCodeExchanges: 0 });
    expect(flow.users).toHaveLength(1);
    expect(flow.users[0]!.claims).toMatchObject({ sub: 'ada.lovelace', name: 'Ada Lovelace', email: 'ada.lovelace@example.test' });
    expect(flow.users[0]!.idToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await callApi(op, token.accessToken)).toBe(200);
    expect(await flow.session.getToken()).toEqual(token);
    await flow.session.close();
  });

  it('refreshes with rotation: each refresh token is sent once, never again, and the grant stays alive', async () => {
    const flow = await startFlow();
    let token = await flow.complete();
    for (let round = 0; round < 3; round++) {
      const next = await flow.session.getToken({ forceRefresh: true });
      expect(next.accessToken).not.toBe(token.accessToken);
      token = next;
    }
    expect(op.counts).toMatchObject({ codeExchanges: 1, refreshRequests: 3, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
    expect(await callApi(op, token.accessToken)).toBe(200);
    await flow.session.close();
  });

  it('a spent refresh token handed to the provider again is refused without a request (invalid_grant)', async () => {
    const provider = oidcProvider({ issuer: op.issuer, clientId: 'web', scope });
    const flow = await startFlow(op, 'ada.lovelace', provider);
    await flow.complete();
    // The refresh token the transport holds now, exchanged once by the provider…
    const context = { signal: new AbortController().signal, fetch, clock: { now: () => Date.now() } };
    const sent = await refreshTokenOf(flow.session);
    const first = await provider.fetchToken({ ...context, refreshToken: sent });
    expect(first.refreshToken).not.toBe(sent);
    const before = op.counts.refreshRequests;
    // …then offered to it again (a stale record): refused here, never sent.
    const spent = await failure(provider.fetchToken({ ...context, refreshToken: sent }));
    expect(spent.code).toBe('invalid_grant');
    expect(op.counts.refreshRequests).toBe(before);
    expect(op.counts.reusedRefreshTokens).toBe(0);
    await flow.session.close();
  });

  it('getToken before any sign-in is login_required, and nothing is sent', async () => {
    const session = createSession({ provider: oidcProvider({ issuer: op.issuer, clientId: 'web', scope }), sharing: memorySharing() });
    expect((await failure(session.getToken())).code).toBe('login_required');
    expect(op.counts.refreshRequests + op.counts.codeExchanges).toBe(0);
    await session.close();
  });

  it('after a sign-out the session is login_required; a new sign-in (a new grant) lifts it, the old refresh token is never sent', async () => {
    const flow = await startFlow();
    await flow.complete();
    await flow.session.clear();
    expect((await failure(flow.session.getToken())).code).toBe('login_required');
    const again = await startFlow(op, 'grace.hopper');
    // The second sign-in completes through the first session's core (same credential key, same process).
    const as = await discover({ issuer: op.issuer, fetch });
    const token = await completeAuthorization(flow.session, as, 'web', again.callback.searchParams, again.transaction, async () => undefined);
    expect((await op.introspect(token.accessToken)).active && (await op.introspect(token.accessToken))).toMatchObject({ sub: 'grace.hopper' });
    await flow.session.getToken({ forceRefresh: true });
    expect(op.counts).toMatchObject({ codeExchanges: 2, reusedRefreshTokens: 0, revokedGrants: 0, failedRefreshes: 0 });
    await again.session.close();
    await flow.session.close();
  });
});

describe('the ID token of a refresh (OpenID Connect Core §12.2)', () => {
  /** The claims of the ID token in the provider's answer to a refresh with the session's refresh token, read beside the session. */
  async function refreshedIdToken(session: Session): Promise<Record<string, unknown>> {
    const as = await discover({ issuer: op.issuer, fetch });
    const refreshToken = await refreshTokenOf(session);
    const response = await fetch(as.token_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken }).toString(),
    });
    const body = (await response.json()) as { id_token?: string };
    expect(body.id_token, 'oidc-provider sends an ID token with every refresh of an openid grant').toEqual(expect.any(String));
    return JSON.parse(Buffer.from(body.id_token!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  }

  it('oidc-provider sends one on refresh, of the same iss, sub, aud and auth_time, with the account\'s claims of now', async () => {
    const flow = await startFlow();
    await flow.complete();
    const signedIn = JSON.parse(Buffer.from(flow.users[0]!.idToken!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    op.setAccountClaims('ada.lovelace', { name: 'Ada King' });
    const refreshed = await refreshedIdToken(flow.session);
    expect(refreshed).toMatchObject({ iss: signedIn.iss, sub: 'ada.lovelace', aud: 'web', name: 'Ada King' });
    expect(refreshed.auth_time).toBe(signedIn.auth_time);
    await flow.session.close();
  });

  it('a refresh whose ID token has the same user is kept: changed claims do not fail the refresh', async () => {
    const flow = await startFlow();
    await flow.complete();
    op.setAccountClaims('ada.lovelace', { name: 'Ada King', email: 'ada@example.test' });
    for (let round = 0; round < 2; round++) await flow.session.getToken({ forceRefresh: true });
    expect(op.counts).toMatchObject({ refreshRequests: 2, failedRefreshes: 0, reusedRefreshTokens: 0 });
    await flow.session.close();
  });

  it('a refresh whose ID token is of another sub is invalid_grant, and its token is never handed out', async () => {
    const flow = await startFlow();
    const token = await flow.complete();
    op.setAccountClaims('ada.lovelace', { sub: 'grace.hopper' });
    const error = await failure(flow.session.getToken({ forceRefresh: true }));
    expect(error.code).toBe('invalid_grant');
    expect(error.message).toContain('sub');
    expect(error.message).not.toContain('grace.hopper');
    // Whatever the session answers next, it is never a token of that refresh.
    const next = await flow.session.getToken().then(
      (value) => value.accessToken,
      (rejected: unknown) => (rejected as SessionError).code,
    );
    expect([token.accessToken, 'invalid_grant', 'login_required']).toContain(next);
    await flow.session.close();
  });
});

describe('sign-in failures, each typed', () => {
  it('a response with another state is invalid_state, and no code is exchanged', async () => {
    const flow = await startFlow();
    const other = new URLSearchParams(flow.callback.searchParams);
    other.set('state', 'another-transaction');
    expect((await failure(flow.complete(other))).code).toBe('invalid_state');
    expect(op.counts.codeExchanges + op.counts.failedCodeExchanges).toBe(0);
    await flow.session.close();
  });

  it('a nonce that does not match the ID token is invalid_response (after one code exchange, whose tokens are dropped)', async () => {
    const flow = await startFlow();
    const error = await failure(flow.complete(undefined, { ...flow.transaction, nonce: 'not-the-nonce-sent' }));
    expect(error.code).toBe('invalid_response');
    expect(error.message).toContain('nonce');
    expect((await failure(flow.session.getToken())).code).toBe('login_required');
    await flow.session.close();
  });

  it('a provider that does not advertise S256 is refused before anything is sent (unsupported_provider)', async () => {
    const noPkce = await startProvider({ advertisePkce: false });
    const error = await failure(discover({ issuer: noPkce.issuer, fetch }));
    expect(error.code).toBe('unsupported_provider');
    expect(noPkce.counts.authorizations).toBe(0);
  });

  it('RFC 9207: an iss from another issuer (a mix-up) is invalid_response; so is a missing iss where it is advertised', async () => {
    for (const iss of ['http://127.0.0.1:1', null]) {
      const mixUp = await startProvider({ authorizationResponseIss: iss });
      const flow = await startFlow(mixUp);
      const error = await failure(flow.complete());
      expect(error.code, String(iss)).toBe('invalid_response');
      expect(error.message).toContain('iss');
      expect(mixUp.counts.codeExchanges).toBe(0);
      await flow.session.close();
    }
  });

  it('the provider’s errors at the callback become their own codes, after the state check', async () => {
    const cases: Array<[AuthorizationError, string]> = [
      ['access_denied', 'access_denied'],
      ['login_required', 'login_required'],
      ['interaction_required', 'interaction_required'],
      ['temporarily_unavailable', 'temporarily_unavailable'],
      ['server_error', 'request_failed'],
    ];
    for (const [sent, code] of cases) {
      op.failNextAuthorization(sent);
      const flow = await startFlow();
      expect(flow.callback.searchParams.get('error')).toBe(sent);
      // With another state, the state check comes first.
      const foreign = new URLSearchParams(flow.callback.searchParams);
      foreign.set('state', 'x');
      expect((await failure(flow.complete(foreign))).code).toBe('invalid_state');
      const error = await failure(flow.complete());
      expect(error.code, sent).toBe(code);
      expect(error.oauthError).toBe(sent);
      await flow.session.close();
    }
    expect(op.counts.codeExchanges).toBe(0);
  });

  it('a refresh token the provider revoked is invalid_grant (the browser transport then signs every context out)', async () => {
    const flow = await startFlow();
    await flow.complete();
    const revoked = await startFlow();
    await revoked.complete();
    // Revoke the grant at the provider: the refresh token the session holds is dead.
    const refreshToken = await refreshTokenOf(revoked.session);
    const as = await discover({ issuer: op.issuer, fetch });
    await fetch(as.revocation_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'web', token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect((await failure(revoked.session.getToken({ forceRefresh: true }))).code).toBe('invalid_grant');
    await revoked.session.close();
    await flow.session.close();
  });

  it('a 503 (with Retry-After) or an unreachable provider at refresh is typed and remembered; the refresh token is kept for the next try', async () => {
    let failNext: 'unavailable' | 'unreachable' | undefined;
    const flaky: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      const failure = failNext;
      if (url.endsWith('/token') && failure !== undefined) {
        failNext = undefined;
        if (failure === 'unreachable') throw new TypeError('fetch failed');
        return new Response('busy', { status: 503, headers: { 'retry-after': '1' } });
      }
      return fetch(input, init);
    };
    const session = createSession({ provider: oidcProvider({ issuer: op.issuer, clientId: 'web', scope }), sharing: memorySharing(), fetch: flaky });
    const as = await discover({ issuer: op.issuer, fetch });
    const { url, transaction } = await createAuthorization(as, { key: session.key, clientId: 'web', scope, redirectUri, returnTo: '/', popup: false, now: Date.now() });
    const callback = await userSignsIn(op, url);
    await completeAuthorization(session, as, 'web', callback.searchParams, transaction, async () => undefined);
    failNext = 'unavailable';
    const unavailable = await failure(session.getToken({ forceRefresh: true }));
    expect(unavailable).toMatchObject({ code: 'endpoint_unavailable', status: 503, retryAfter: 1000 });
    // Remembered: nobody asks again within the second the provider asked for.
    expect((await failure(session.getToken({ forceRefresh: true }))).code).toBe('endpoint_unavailable');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    failNext = 'unreachable';
    expect((await failure(session.getToken({ forceRefresh: true }))).code).toBe('endpoint_unavailable');
    // The refresh token was never spent by a failed request: the next refresh works, and nothing was reused.
    await session.getToken({ forceRefresh: true });
    expect(op.counts).toMatchObject({ reusedRefreshTokens: 0, revokedGrants: 0, failedRefreshes: 0 });
    await session.close();
  });

  it('a refresh answered after the timeout (the provider rotated at once): waited on, kept, and its refresh token never sent again', async () => {
    // The provider serves at once; the answer reaches us 700 ms later, after the 300 ms timeout (a slow network).
    let late = false;
    const slow: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      const response = await fetch(input, init);
      if (late && url.endsWith('/token')) await new Promise((resolve) => setTimeout(resolve, 700));
      return response;
    };
    const session = createSession({ provider: oidcProvider({ issuer: op.issuer, clientId: 'web', scope, timeout: 300 }), sharing: memorySharing(), fetch: slow });
    const as = await discover({ issuer: op.issuer, fetch });
    const { url, transaction } = await createAuthorization(as, { key: session.key, clientId: 'web', scope, redirectUri, returnTo: '/', popup: false, now: Date.now() });
    const callback = await userSignsIn(op, url);
    await completeAuthorization(session, as, 'web', callback.searchParams, transaction, async () => undefined);
    late = true;
    const refreshed = await session.getToken({ forceRefresh: true });
    late = false;
    const again = await session.getToken({ forceRefresh: true });
    expect(again.accessToken).not.toBe(refreshed.accessToken);
    expect(op.counts).toMatchObject({ reusedRefreshTokens: 0, revokedGrants: 0, failedRefreshes: 0 });
    await session.close();
  });

  it('a refresh whose answer never comes within lateAnswerWindow: invalid_grant, and its refresh token is never sent again', async () => {
    let stalled = false;
    const stalling: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      const response = await fetch(input, init); // served: the refresh token rotated at the provider
      if (stalled && url.endsWith('/token')) await new Promise((resolve) => setTimeout(resolve, 2_000));
      return response;
    };
    const session = createSession({ provider: oidcProvider({ issuer: op.issuer, clientId: 'web', scope, timeout: 200, lateAnswerWindow: 600 }), sharing: memorySharing(), fetch: stalling });
    const as = await discover({ issuer: op.issuer, fetch });
    const { url, transaction } = await createAuthorization(as, { key: session.key, clientId: 'web', scope, redirectUri, returnTo: '/', popup: false, now: Date.now() });
    const callback = await userSignsIn(op, url);
    await completeAuthorization(session, as, 'web', callback.searchParams, transaction, async () => undefined);
    stalled = true;
    expect((await failure(session.getToken({ forceRefresh: true }))).code).toBe('invalid_grant');
    stalled = false;
    expect((await failure(session.getToken({ forceRefresh: true }))).code).toMatch(/^(invalid_grant|login_required)$/);
    expect(op.counts).toMatchObject({ reusedRefreshTokens: 0, revokedGrants: 0 });
    await session.close();
  });

  it('issuers: https, or http only on loopback; anything else is invalid_options', () => {
    for (const issuer of ['http://127.0.0.1:8080', 'http://localhost:8080/realms/x', 'http://[::1]:8080', 'https://identity.example']) {
      expect(() => oidcProvider({ issuer, clientId: 'web' }), issuer).not.toThrow();
    }
    for (const issuer of ['http://example.com', 'http://10.0.0.1', 'ftp://127.0.0.1', 'not a url', '']) {
      let code: string | undefined;
      try {
        oidcProvider({ issuer, clientId: 'web' });
      } catch (error) {
        code = (error as SessionError).code;
      }
      expect(code, issuer).toBe('invalid_options');
    }
  });

  it('the credential key is issuer + client id + scope: another scope is another session', () => {
    const key = (options: { issuer?: string; clientId?: string; scope?: string }) =>
      oidcProvider({ issuer: op.issuer, clientId: 'web', scope, ...options }).key;
    expect(new Set([key({}), key({ scope: 'openid' }), key({ clientId: 'other' }), key({ issuer: 'https://identity.example' })]).size).toBe(4);
    expect(key({})).toBe(key({}));
  });
});

/** The refresh token a session's transport holds now (what the browser keeps in IndexedDB). */
async function refreshTokenOf(session: Session): Promise<string> {
  const { sharedRefreshToken } = await import('../../src/core/session.js');
  const found = await sharedRefreshToken(session);
  expect(found).toEqual(expect.any(String));
  return found!;
}

describe('the callback URL', () => {
  it('is recognised on the redirect URI\'s origin and path only, with a state and a code or an error', async () => {
    const { isAuthorizationResponse } = await import('../../src/oidc/sign-in.js');
    const redirect = 'https://app.example/maps/';
    expect(isAuthorizationResponse(new URL('https://app.example/maps/?code=c&state=s&iss=x'), redirect)).toBe(true);
    expect(isAuthorizationResponse(new URL('https://app.example/maps/?error=access_denied&state=s'), redirect)).toBe(true);
    for (const url of ['https://app.example/maps/?code=c', 'https://app.example/other?code=c&state=s', 'https://evil.example/maps/?code=c&state=s', 'https://app.example/maps/?state=s']) {
      expect(isAuthorizationResponse(new URL(url), redirect), url).toBe(false);
    }
  });

  it('is cleaned of every response parameter and keeps the app\'s own; the return path is same-origin only', async () => {
    const { sameOriginPath, withoutResponse } = await import('../../src/oidc/sign-in.js');
    const cleaned = withoutResponse(new URL('https://app.example/?view=map&code=c&state=s&iss=i&session_state=k#layer=1'));
    expect(cleaned.href).toBe('https://app.example/?view=map#layer=1');
    const base = new URL('https://app.example/maps/');
    expect(sameOriginPath('/maps/?a=1#b', base)).toBe('/maps/?a=1#b');
    expect(sameOriginPath('next', base)).toBe('/maps/next');
    for (const target of ['https://evil.example/', '//evil.example/x', 'http://app.example/']) {
      expect(() => sameOriginPath(target, base), target).toThrow(/own origin/);
    }
  });
});
