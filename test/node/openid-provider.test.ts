import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';

/**
 * The shared test OpenID provider (test/support/openid-provider.ts) driven with plain fetch, as a browser would:
 * a code flow with PKCE through its login form, a rotation, and a reused refresh token that costs the grant.
 */

const app = 'http://127.0.0.1:9';
const redirectUri = `${app}/callback`;
let op: OpenIdProvider;

beforeAll(async () => {
  op = await startOpenIdProvider({
    clients: [{ clientId: 'web', redirectUris: [redirectUri], postLogoutRedirectUris: [`${app}/signed-out`] }],
    accessTokenTtl: 4,
  });
});
afterAll(() => op.close());
beforeEach(() => op.reset());

/** A browser's cookie jar for one origin (cookies ignore the port, as browsers do on 127.0.0.1). */
class Browser {
  readonly cookies = new Map<string, string>();

  async get(url: string): Promise<Response> {
    return this.request(url, { method: 'GET' });
  }

  async request(url: string, init: RequestInit): Promise<Response> {
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

  /** Follows redirects at the provider until one leaves it (to the app), and returns that URL. */
  async follow(response: Response, hops = 10): Promise<{ left?: URL; page?: Response }> {
    let current = response;
    for (let hop = 0; hop < hops; hop++) {
      const location = current.headers.get('location');
      if (location === null) return { page: current };
      const next = new URL(location, op.issuer);
      if (next.origin !== new URL(op.issuer).origin) return { left: next };
      current = await this.get(next.href);
    }
    throw new Error('too many redirects');
  }
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint?: string;
  end_session_endpoint?: string;
  code_challenge_methods_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
}

async function discover(issuer = op.issuer): Promise<Discovery> {
  return (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Discovery;
}

interface Transaction {
  verifier: string;
  state: string;
  nonce: string;
  url: string;
}

function authorizationRequest(discovery: Discovery, extra: Record<string, string> = {}): Transaction {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: 'web',
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid offline_access profile email api',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { verifier, state, nonce, url: url.href };
}

/** The user opens the authorization URL, fills the login form with `login`, and lands back on the app. */
async function signIn(browser: Browser, transaction: Transaction, login: string): Promise<URL> {
  const toForm = await browser.follow(await browser.get(transaction.url));
  expect(toForm.page?.status).toBe(200);
  const html = await toForm.page!.text();
  expect(html).toContain('<input name="login"');
  expect(html).toContain('id="sign-in-submit"');
  const action = new URL(/action="([^"]+)"/.exec(html)![1]!, op.issuer);
  const submitted = await browser.request(action.href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login }).toString(),
  });
  const { left } = await browser.follow(submitted);
  expect(left).toBeDefined();
  return left!;
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
  error?: string;
}

async function token(discovery: Discovery, form: Record<string, string>): Promise<{ status: number; body: TokenResponse }> {
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: app },
    body: new URLSearchParams({ client_id: 'web', ...form }).toString(),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse };
}

async function callApi(accessToken: string): Promise<number> {
  return (await fetch(op.apiUrl, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}

async function signedIn(login = 'ada.lovelace'): Promise<{ discovery: Discovery; tokens: TokenResponse }> {
  const discovery = await discover();
  const transaction = authorizationRequest(discovery);
  const callback = await signIn(new Browser(), transaction, login);
  const exchanged = await token(discovery, {
    grant_type: 'authorization_code',
    code: callback.searchParams.get('code') ?? '',
    redirect_uri: redirectUri,
    code_verifier: transaction.verifier,
  });
  expect(exchanged.status).toBe(200);
  return { discovery, tokens: exchanged.body };
}

describe('the shared test OpenID provider (oidc-provider 9)', () => {
  it('advertises PKCE S256, RFC 9207 iss, revocation and RP-initiated logout on a loopback http issuer', async () => {
    const discovery = await discover();
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
    expect(discovery.authorization_response_iss_parameter_supported).toBe(true);
    expect(discovery.revocation_endpoint).toBe(`${op.issuer}/token/revocation`);
    expect(discovery.end_session_endpoint).toBe(`${op.issuer}/session/end`);
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('code flow with PKCE through its login form: any user name, consent given, claims from the name, one code exchange', async () => {
    const discovery = await discover();
    const transaction = authorizationRequest(discovery);
    const callback = await signIn(new Browser(), transaction, 'Ada.Lovelace');
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get('state')).toBe(transaction.state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    const code = callback.searchParams.get('code') ?? '';
    expect(code).not.toBe('');

    const exchanged = await token(discovery, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: transaction.verifier });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.expires_in).toBe(4);
    expect(exchanged.body.refresh_token).toEqual(expect.any(String));
    const claims = claimsOf(exchanged.body.id_token ?? '');
    expect(claims).toMatchObject({ iss: op.issuer, aud: 'web', sub: 'ada.lovelace', name: 'Ada Lovelace', email: 'ada.lovelace@example.test', nonce: transaction.nonce });
    expect(await callApi(exchanged.body.access_token ?? '')).toBe(200);
    expect(await op.introspect(exchanged.body.access_token ?? '')).toMatchObject({ active: true, sub: 'ada.lovelace', clientId: 'web' });
    expect(await callApi('not-a-token')).toBe(401);

    // The same code again is refused (and counted), never a second exchange.
    const again = await token(discovery, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: transaction.verifier });
    expect(again.body.error).toBe('invalid_grant');
    expect(op.counts).toMatchObject({ authorizations: 1, codeExchanges: 1, failedCodeExchanges: 1, apiCalls: 2, failedApiCalls: 1 });
  });

  it('PKCE is required of the public client: no code_challenge → invalid_request at the callback, no code', async () => {
    const discovery = await discover();
    const transaction = authorizationRequest(discovery);
    const url = new URL(transaction.url);
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
    const { left } = await new Browser().follow(await new Browser().get(url.href));
    expect(left?.searchParams.get('error')).toBe('invalid_request');
    expect(left?.searchParams.has('code')).toBe(false);
    expect(op.counts.authorizationErrors).toBe(1);
  });

  it('a rotation, then the spent refresh token presented again: counted as reuse, the grant revoked, its tokens dead', async () => {
    const { discovery, tokens } = await signedIn();
    const first = tokens.refresh_token ?? '';
    const rotated = await token(discovery, { grant_type: 'refresh_token', refresh_token: first });
    expect(rotated.status).toBe(200);
    const second = rotated.body.refresh_token ?? '';
    expect(second).not.toBe(first);
    expect(await callApi(rotated.body.access_token ?? '')).toBe(200);
    expect(op.counts).toMatchObject({ refreshRequests: 1, reusedRefreshTokens: 0, revokedGrants: 0 });

    const reused = await token(discovery, { grant_type: 'refresh_token', refresh_token: first });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    expect(op.counts).toMatchObject({ refreshRequests: 2, failedRefreshes: 1, reusedRefreshTokens: 1, revokedGrants: 1 });
    // oidc-provider revoked the whole grant: the newest refresh token and the access token are gone too.
    expect((await token(discovery, { grant_type: 'refresh_token', refresh_token: second })).body.error).toBe('invalid_grant');
    expect(await callApi(rotated.body.access_token ?? '')).toBe(401);
    expect(op.counts.reusedRefreshTokens).toBe(1);
    expect(JSON.stringify(op.log)).not.toContain(first);
  });

  it('revocation at sign-out is counted as a revocation, not as a revoked grant; CORS only for the client origins', async () => {
    const { discovery, tokens } = await signedIn();
    const revoked = await fetch(discovery.revocation_endpoint ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: app },
      body: new URLSearchParams({ client_id: 'web', token: tokens.refresh_token ?? '', token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('access-control-allow-origin')).toBe(app);
    expect(op.counts).toMatchObject({ revocations: 1, revokedGrants: 0 });
    expect((await token(discovery, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' })).body.error).toBe('invalid_grant');
    expect(op.counts.reusedRefreshTokens).toBe(0);

    const foreign = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:1' },
      body: new URLSearchParams({ client_id: 'web', grant_type: 'refresh_token', refresh_token: 'x' }).toString(),
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('callback errors on demand: the login form cancel (access_denied) and failNextAuthorization', async () => {
    const discovery = await discover();
    op.failNextAuthorization('temporarily_unavailable');
    const transaction = authorizationRequest(discovery);
    const callback = await signIn(new Browser(), transaction, 'grace');
    expect(callback.searchParams.get('error')).toBe('temporarily_unavailable');
    expect(callback.searchParams.get('state')).toBe(transaction.state);
    expect(callback.searchParams.has('code')).toBe(false);

    const browser = new Browser();
    const toForm = await browser.follow(await browser.get(authorizationRequest(discovery).url));
    const action = new URL(/action="([^"]+)"/.exec(await toForm.page!.text())![1]!, op.issuer);
    const denied = await browser.request(action.href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'error=access_denied',
    });
    expect((await browser.follow(denied)).left?.searchParams.get('error')).toBe('access_denied');
    expect(op.counts).toMatchObject({ authorizations: 0, authorizationErrors: 2 });
  });

  it('two providers on 127.0.0.1 keep their sessions apart in one browser (cookies are per host, not per port)', async () => {
    const other = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }] });
    const browser = new Browser(); // one cookie jar for both ports, as a browser has
    const saved = op;
    try {
      await signIn(browser, authorizationRequest(await discover()), 'ada');
      op = other;
      await signIn(browser, authorizationRequest(await discover(other.issuer)), 'grace');
      op = saved;
      // Back at the first provider: still signed in there, so no login form, straight back to the app with a code.
      const { left } = await browser.follow(await browser.get(authorizationRequest(await discover()).url));
      expect(left?.searchParams.get('code')).not.toBeNull();
      expect(op.counts.authorizations).toBe(2);
    } finally {
      op = saved;
      await other.close();
    }
  });

  it('edge-case switches: PKCE and iss not advertised, a foreign iss in the callback, no revocation endpoint', async () => {
    const other = await startOpenIdProvider({
      clients: [{ clientId: 'web', redirectUris: [redirectUri] }],
      advertisePkce: false,
      advertiseIss: false,
      authorizationResponseIss: 'http://127.0.0.1:1',
      revocation: false,
    });
    try {
      const discovery = await discover(other.issuer);
      expect(discovery.code_challenge_methods_supported).toBeUndefined();
      expect(discovery.authorization_response_iss_parameter_supported).toBeUndefined();
      expect(discovery.revocation_endpoint).toBeUndefined();
      const transaction = authorizationRequest(discovery);
      const saved = op;
      op = other;
      try {
        const callback = await signIn(new Browser(), transaction, 'mallory');
        expect(callback.searchParams.get('iss')).toBe('http://127.0.0.1:1');
        expect(callback.searchParams.get('code')).not.toBeNull();
      } finally {
        op = saved;
      }
    } finally {
      await other.close();
    }
  });

  it("Auth0's shape (auth0-spa-js builds its URLs from `domain`): issuer with a slash, /authorize and /oauth/token, counted as ever", async () => {
    const other = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], auth0Shape: true });
    const saved = op;
    op = other;
    try {
      const origin = new URL(other.issuer).origin;
      expect(other.issuer).toBe(`${origin}/`);
      expect(other.apiUrl).toBe(`${origin}/api`);
      const discovery = await discover(origin);
      expect(discovery).toMatchObject({
        issuer: `${origin}/`,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/oauth/token`,
        revocation_endpoint: `${origin}/oauth/revoke`,
        end_session_endpoint: `${origin}/v2/logout`,
      });
      const transaction = authorizationRequest(discovery);
      const callback = await signIn(new Browser(), transaction, 'ada.lovelace');
      const exchanged = await token(discovery, {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        redirect_uri: redirectUri,
        code_verifier: transaction.verifier,
      });
      expect(exchanged.status).toBe(200);
      expect(claimsOf(exchanged.body.id_token!).iss).toBe(`${origin}/`);
      expect(await callApi(exchanged.body.access_token!)).toBe(200);
      const refreshed = await token(discovery, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
      expect(refreshed.status).toBe(200);
      expect(other.counts).toMatchObject({ codeExchanges: 1, refreshRequests: 1, reusedRefreshTokens: 0 });
    } finally {
      op = saved;
      await other.close();
    }
  });
});
