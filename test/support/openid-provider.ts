import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { createDPoPValidator } from './dpop-api.js';
import { solidPng, TILE_COLOUR } from './tiles.js';

/**
 * A real OpenID provider on 127.0.0.1 for the tests, the bench and the demo: panva's `oidc-provider` 9 (certified),
 * configured as a public browser client's provider is in production — authorization code with PKCE S256 required,
 * refresh-token rotation on every use, a spent refresh token revokes the whole grant, revocation and RP-initiated
 * logout, RFC 9207 `iss` in authorization responses — plus a login form where any user name works and consent is
 * granted automatically, an `/api` route that accepts only the provider's live access tokens, and counters taken
 * from the provider's own events.
 */
export interface OpenIdProvider {
  /**
   * `http://127.0.0.1:<port>` (random port); discovery is at `${issuer}/.well-known/openid-configuration`. With
   * `auth0Shape`, `http://127.0.0.1:<port>/` (with the slash).
   */
  readonly issuer: string;
  /** A protected API: 200 with `{ sub, clientId, scope }` for a live access token of this provider, 401 otherwise. */
  readonly apiUrl: string;
  /**
   * Protected tiles beside the API: `${issuer}/tiles/{z}/{x}/{y}.png`, a 256×256 PNG of `TILE_COLOUR` under the same
   * rule as `apiUrl` (with `dpop`, the same strict proof check), CORS open to any origin.
   */
  readonly tilesUrl: string;
  /**
   * With `dpop`: the API and the tiles require their own nonce (RFC 9449 §9): a proof without the current one is
   * answered 401 `use_dpop_nonce` with `DPoP-Nonce`. Default false (`reset()` restores it).
   */
  apiNonce: boolean;
  /** The next `count` API or tile requests that would be accepted are answered 401 `invalid_token` instead. */
  rejectNextApiCalls(count: number): void;
  /**
   * The next `count` API or tile requests (not CORS preflights) are held unanswered until `release()` (or `reset()`):
   * `arrived` resolves when all of them are in. A probe that never gets its answer.
   */
  holdNextApiCalls(count: number): { readonly arrived: Promise<void>; release(): void };
  /** Every API and tile request since the last `reset()`, in order, with what its proof claimed (no token value). */
  readonly apiRequests: readonly ApiRequestRecord[];
  /** Counted from oidc-provider's events since start or the last `reset()`. */
  readonly counts: OpenIdProviderCounts;
  /** What happened, in order, without any token value (for failure messages). */
  readonly log: readonly OpenIdProviderLogEntry[];
  /**
   * With `dpop`: the JWK thumbprint (`jkt`) of the key of every DPoP proof the token endpoint and the API received,
   * and how many proofs each signed, since start or the last `reset()` (a proof that is not a JWT counts as `?`).
   */
  readonly dpopKeys: ReadonlyMap<string, number>;
  /** Lifetime in seconds of access tokens issued from now on. */
  accessTokenTtl: number;
  /** Delay before the token endpoint handles a request (ms), to widen races. Default 0. */
  tokenLatency: number;
  /** Delay after the token endpoint handled a request and before its answer leaves (ms): a refresh has rotated by then. Default 0. */
  responseLatency: number;
  /**
   * The next access tokens the token endpoint issues, one entry each: the token lives `ttl` s, and its answer leaves
   * `delay` ms after it was issued (a refresh has rotated by then; a `delay` past the lifetime brings a dead token).
   * Then `accessTokenTtl` and `responseLatency` again. `reset()` forgets what is left.
   */
  planTokenAnswers(plan: readonly { readonly ttl: number; readonly delay: number }[]): void;
  /** Whether `accessToken` is a live access token of this provider, and whose. */
  introspect(accessToken: string): Promise<{ active: false } | { active: true; sub: string; clientId: string; scope: string }>;
  /**
   * Claims of the account `login` from now on, over its defaults (`name`, `email`…; even `sub`, as a provider that
   * mixes accounts up would): the ID tokens of later refreshes carry them. Undefined restores the defaults.
   */
  setAccountClaims(login: string, claims: Record<string, unknown> | undefined): void;
  /** The next `count` authorization requests end with this error at the callback (after the login form). */
  failNextAuthorization(error: AuthorizationError, count?: number): void;
  /** Calls `listener` after every change of `counts` (the demo's live counters); returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** The next `count` device_code polls are answered `slow_down` (RFC 8628 §3.5) before oidc-provider sees them. */
  slowDownNext(count: number): void;
  /** The times (ms since start) of every device_code poll, in order. */
  readonly devicePollTimes: readonly number[];
  /** Zeroes the counters and the log, forgets queued failures, restores `accessTokenTtl` and `tokenLatency`. */
  reset(): void;
  close(): Promise<void>;
}

export type AuthorizationError = 'access_denied' | 'login_required' | 'interaction_required' | 'temporarily_unavailable' | 'server_error';

export interface OpenIdProviderCounts {
  /** Authorization responses with a code (`authorization.success`). */
  authorizations: number;
  /** Authorization responses with an error (`authorization.error`). */
  authorizationErrors: number;
  /** Successful authorization_code grants (`grant.success`). */
  codeExchanges: number;
  /** authorization_code grants refused (`grant.error`), e.g. a code presented twice. */
  failedCodeExchanges: number;
  /** refresh_token grants received, answered or refused. */
  refreshRequests: number;
  /** refresh_token grants refused (`grant.error`), for any reason. */
  failedRefreshes: number;
  /** A spent (rotated) refresh token presented again: oidc-provider's "refresh token already used". */
  reusedRefreshTokens: number;
  /** Grants the provider revoked at its token endpoint — what a reused refresh token costs (`grant.revoked`). */
  revokedGrants: number;
  /** Successful calls to the revocation endpoint (sign-out). */
  revocations: number;
  /** RP-initiated logouts that ended the provider's session (`end_session.success`). */
  endSessions: number;
  /** Calls to `apiUrl`, and those answered 401. */
  apiCalls: number;
  failedApiCalls: number;
  /** Device authorization requests answered with a device code (`deviceFlow` only). */
  deviceAuthorizations: number;
  /** device_code grants that issued tokens. */
  deviceGrants: number;
  /** device_code polls answered with an error (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`). */
  devicePolls: number;
  /** The device_code polls answered `slow_down`, and the ms since the poll before each of them, in order. */
  slowDowns: number;
  /** With `devicePkce`: device_code polls whose `code_verifier` matched the authorization's challenge. */
  devicePkceVerified: number;
  /** With `dpop`: `use_dpop_nonce` challenges of the token endpoint (not counted as failed refreshes or exchanges). */
  dpopNonceChallenges: number;
  /** With `dpop`: API calls whose proof's `jti` was seen before (each is also a failed API call). */
  replayedProofs: number;
  /** With `dpop` and `apiNonce`: API and tile requests answered `use_dpop_nonce` (not counted as failed calls). */
  apiNonceChallenges: number;
  /** Requests to `<apiUrl>-moved`, each answered with a 307 to `apiUrl` (an API behind a redirect). */
  movedApiCalls: number;
}

/** One request to the API or the tiles, as the test provider saw it. */
export interface ApiRequestRecord {
  readonly path: string;
  /** `Authorization`'s scheme (`DPoP`, `Bearer`) or `none`. */
  readonly scheme: string;
  /** The proof's claims (decoded, not trusted), when there was one. */
  readonly jti?: string | undefined;
  readonly ath?: string | undefined;
  readonly htu?: string | undefined;
  readonly nonce?: string | undefined;
  /** The proof's `iat` (epoch s). */
  readonly iat?: number | undefined;
  /** `ok`, a `DPoPCheck` refusal, `nonce-challenge`, `rejected` (by `rejectNextApiCalls`) or `unauthorized`. */
  readonly outcome: string;
  /** Epoch ms at which the API had looked the token up (after the lookup's answer): when it was judged. */
  readonly judgedAt: number;
  /**
   * Epoch ms at which the provider's access token sent (the one `ath` names) expires, as the provider issued it
   * (its `exp`), when this provider issued it — known even after it expired and the provider forgot it.
   */
  readonly tokenExpiresAt?: number | undefined;
}

export interface OpenIdProviderLogEntry {
  /** ms since the provider started */
  readonly at: number;
  readonly event: string;
  readonly detail?: string;
}

export interface OpenIdClientOptions {
  clientId: string;
  /** Exact redirect URIs; their origins are allowed CORS origins of the token and revocation endpoints. */
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** Further origins allowed to call the token endpoint with fetch (CORS). */
  corsOrigins?: string[];
  /**
   * `native`: a command-line or desktop app (RFC 8252), whose `http://127.0.0.1/...` redirect URIs match any port.
   * Default `web`.
   */
  applicationType?: 'web' | 'native';
}

export interface OpenIdProviderOptions {
  /** Public clients (`token_endpoint_auth_method: 'none'`, code + refresh_token grants). */
  clients: OpenIdClientOptions[];
  /** Access token lifetime in seconds. Default 60. */
  accessTokenTtl?: number;
  /** Refresh token lifetime in seconds. Default one day. */
  refreshTokenTtl?: number;
  /** Scopes besides `openid offline_access profile email`. Default `['api']`. */
  scopes?: string[];
  /** Whether discovery advertises `code_challenge_methods_supported` (PKCE stays required). Default true. */
  advertisePkce?: boolean;
  /** Whether discovery advertises `authorization_response_iss_parameter_supported` (RFC 9207). Default true. */
  advertiseIss?: boolean;
  /** The `iss` of authorization responses: the issuer (default), another value (a mix-up), or null to leave it out. */
  authorizationResponseIss?: string | null;
  /** Whether the revocation endpoint exists (and is advertised). Default true. */
  revocation?: boolean;
  /** Port on 127.0.0.1. Default 0: one the OS picks. */
  port?: number;
  /**
   * The device authorization grant (RFC 8628) for every client, with oidc-provider's own user-code pages at
   * `${issuer}/device`. Default false.
   */
  deviceFlow?: boolean;
  /** Lifetime in seconds of device codes. Default 600. */
  deviceCodeTtl?: number;
  /**
   * The polling `interval` (seconds) the device authorization response names. Default: none, as oidc-provider sends
   * none, so that clients wait RFC 8628's default of 5 s between polls. Tests whose promise is not about that default
   * name 1 s, so that an approval is seen a second later instead of five.
   */
  deviceInterval?: number;
  /**
   * PKCE required with the device flow, as EGI Check-in requires it of openEO's `device_code+pkce` clients (oidc-provider
   * has no such option: checked here): a device authorization without an S256 `code_challenge` is refused, and a
   * poll whose `code_verifier` does not match it gets `invalid_grant`. Default false.
   */
  devicePkce?: boolean;
  /**
   * DPoP (RFC 9449) required of every client (`dpop_bound_access_tokens`: bound access and refresh tokens) with
   * nonces on at the token endpoint, and `/api` validating proofs strictly (see `dpopApi`). Default off.
   */
  dpop?: boolean;
  /**
   * Auth0's shape, which auth0-spa-js assumes instead of reading discovery: the issuer ends with a slash
   * (`http://127.0.0.1:<port>/`, the `iss` it checks in ID tokens) and the endpoints are at Auth0's paths
   * (`/authorize`, `/oauth/token`, `/oauth/revoke`, `/v2/logout`; discovery says so to the other clients). Default false.
   */
  auth0Shape?: boolean;
}

/** Auth0's endpoint paths (`auth0Shape`), as oidc-provider's `routes`. */
const auth0Routes = { authorization: '/authorize', token: '/oauth/token', revocation: '/oauth/revoke', end_session: '/v2/logout' } as const;

/** The login form's selectors, for playwright. */
export const loginForm = {
  login: 'input[name="login"]',
  submit: '#sign-in-submit',
  deny: '#sign-in-deny',
} as const;

const defaultAccessTokenTtl = 60;

export async function startOpenIdProvider(options: OpenIdProviderOptions): Promise<OpenIdProvider> {
  const started = Date.now();
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const providerOrigin = `http://127.0.0.1:${port}`;
  const issuer = options.auth0Shape === true ? `${providerOrigin}/` : providerOrigin;
  const tokenPath = options.auth0Shape === true ? auth0Routes.token : '/token';

  const freshCounts = (): OpenIdProviderCounts => ({
    authorizations: 0,
    authorizationErrors: 0,
    codeExchanges: 0,
    failedCodeExchanges: 0,
    refreshRequests: 0,
    failedRefreshes: 0,
    reusedRefreshTokens: 0,
    revokedGrants: 0,
    revocations: 0,
    endSessions: 0,
    apiCalls: 0,
    failedApiCalls: 0,
    deviceAuthorizations: 0,
    deviceGrants: 0,
    devicePolls: 0,
    slowDowns: 0,
    devicePkceVerified: 0,
    dpopNonceChallenges: 0,
    replayedProofs: 0,
    apiNonceChallenges: 0,
    movedApiCalls: 0,
  });
  const state = {
    counts: freshCounts(),
    log: [] as OpenIdProviderLogEntry[],
    accessTokenTtl: options.accessTokenTtl ?? defaultAccessTokenTtl,
    tokenLatency: 0,
    responseLatency: 0,
    plannedAnswers: [] as { readonly ttl: number; readonly delay: number }[],
    failures: [] as AuthorizationError[],
    accountClaims: new Map<string, Record<string, unknown>>(),
    slowDowns: 0,
    devicePollTimes: [] as number[],
    /** `devicePkce`: the code challenge of each device code. */
    deviceChallenges: new Map<string, string>(),
    apiNonce: false,
    apiNonceValue: randomBytes(12).toString('base64url'),
    rejectNext: 0,
    apiRequests: [] as ApiRequestRecord[],
    hold: undefined as { count: number; arrived: () => void; gate: Promise<void>; release: () => void } | undefined,
    dpopKeys: new Map<string, number>(),
    /** The `exp` (epoch ms) of every access token issued, by its SHA-256 (a proof's `ath`): never the token itself. */
    accessTokenExpiry: new Map<string, number>(),
  };
  /** Notes the key of a proof (its header's `jwk`), whatever the server decides about it. */
  const noteProofKey = async (proof: string): Promise<void> => {
    let jkt = '?';
    try {
      jkt = await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK);
    } catch {
      // Not a JWT with a key: counted as such, the servers refuse it.
    }
    state.dpopKeys.set(jkt, (state.dpopKeys.get(jkt) ?? 0) + 1);
  };
  const listeners = new Set<() => void>();
  const record = (event: string, detail?: string): void => {
    state.log.push(detail === undefined ? { at: Date.now() - started, event } : { at: Date.now() - started, event, detail });
    for (const listener of listeners) listener();
  };

  const corsOrigins = new Map<string, Set<string>>();
  for (const client of options.clients) {
    const origins = [...client.redirectUris, ...(client.postLogoutRedirectUris ?? []), ...(client.corsOrigins ?? [])];
    corsOrigins.set(client.clientId, new Set(origins.map((uri) => new URL(uri).origin)));
  }

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const extraScopes = options.scopes ?? ['api'];
  const provider = new Provider(issuer, {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      token_endpoint_auth_method: 'none',
      application_type: client.applicationType ?? 'web',
      grant_types: ['authorization_code', 'refresh_token', ...(options.deviceFlow === true ? [DEVICE_CODE] : [])],
      response_types: ['code'],
      redirect_uris: client.redirectUris,
      post_logout_redirect_uris: client.postLogoutRedirectUris ?? [],
      ...(options.dpop === true && { dpop_bound_access_tokens: true }),
    })),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', alg: 'RS256', use: 'sig' }] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Browsers keep cookies per host, not per port: names of its own keep two providers on 127.0.0.1 apart.
      names: { session: `_session_${port}`, interaction: `_interaction_${port}`, resume: `_interaction_resume_${port}` },
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', ...extraScopes],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    // The ID token carries name and email (what `session.user` shows), not only the userinfo endpoint.
    conformIdTokenClaims: false,
    findAccount: (_ctx: unknown, login: string) => {
      const { sub = login, ...claims } = state.accountClaims.get(login) ?? {};
      // oidc-provider takes the ID token's `sub` from `accountId`, whatever `claims()` says.
      return {
        accountId: sub as string,
        claims: () => ({ sub, name: displayName(login), email: `${login}@example.test`, email_verified: true, ...claims }),
      };
    },
    // Rotation on every use; oidc-provider revokes the grant when a spent refresh token comes back.
    rotateRefreshToken: true,
    // oidc-provider drops offline_access unless prompt=consent; a public browser client gets its refresh token
    // because it is allowed the grant, as Keycloak and most providers configure public SPA clients.
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(grant: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: () => false,
    pkce: { required: () => true },
    clientBasedCORS: (_ctx: unknown, origin: string, client: { clientId: string }) => corsOrigins.get(client.clientId)?.has(origin) ?? false,
    features: {
      devInteractions: { enabled: false },
      // DPoP is on in oidc-provider 9 (proofs accepted); `dpop` adds nonces, required at every use.
      ...(options.dpop === true && { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true } }),
      // Public clients revoke their own tokens (the default policy, stated to keep its notice quiet).
      revocation: { enabled: options.revocation ?? true, allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) => token.clientId === client.clientId },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      deviceFlow: { enabled: options.deviceFlow === true, successSource: deviceSuccessSource },
    },
    ...(options.auth0Shape === true && { routes: auth0Routes }),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    renderError: (ctx: { type: string; body: string }, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1 id="op-error">${escapeHtml(out.error ?? 'error')}</h1><p>${escapeHtml(out.error_description ?? '')}</p>`);
    },
    ttl: {
      // Koa's context: the delay of a planned answer is applied on its way out (see the token middleware).
      AccessToken: (ctx: { state?: Record<string, unknown> } | undefined) => {
        const planned = state.plannedAnswers.shift();
        if (planned === undefined) return state.accessTokenTtl;
        if (ctx?.state !== undefined) ctx.state.plannedDelay = planned.delay;
        return planned.ttl;
      },
      RefreshToken: options.refreshTokenTtl ?? 86_400,
      IdToken: 3600,
      AuthorizationCode: 60,
      DeviceCode: options.deviceCodeTtl ?? 600,
      Interaction: 600,
      Session: 86_400,
      Grant: 86_400,
    },
  });

  // Counters from the provider's own events.
  provider.on('access_token.saved', (token) => {
    // The saved token's `exp` is in its stored payload (the model computes it from the configured lifetime).
    const { jti } = token as { jti: string };
    void (provider.AccessToken.find(jti) as Promise<{ exp: number } | undefined>).then((saved) => {
      if (saved !== undefined) state.accessTokenExpiry.set(createHash('sha256').update(jti).digest('base64url'), saved.exp * 1_000);
    });
  });
  provider.on('authorization.success', () => {
    state.counts.authorizations++;
    record('authorization.success');
  });
  provider.on('authorization.error', (_ctx, error) => {
    state.counts.authorizationErrors++;
    record('authorization.error', errorName(error));
  });
  provider.on('grant.success', (ctx) => {
    const grantType = grantTypeOf(ctx);
    if (grantType === 'authorization_code') state.counts.codeExchanges++;
    if (grantType === 'refresh_token') state.counts.refreshRequests++;
    if (grantType === DEVICE_CODE) state.counts.deviceGrants++;
    record('grant.success', grantType);
  });
  provider.on('grant.error', (ctx, error) => {
    const grantType = grantTypeOf(ctx);
    const name = errorName(error);
    if (name.startsWith('use_dpop_nonce')) {
      state.counts.dpopNonceChallenges++;
      record('dpop.nonce-challenge', grantType);
      return;
    }
    if (grantType === 'authorization_code') state.counts.failedCodeExchanges++;
    if (grantType === DEVICE_CODE) state.counts.devicePolls++;
    if (grantType === 'refresh_token') {
      state.counts.refreshRequests++;
      state.counts.failedRefreshes++;
      if (name === 'invalid_grant: refresh token already used') state.counts.reusedRefreshTokens++;
    }
    record('grant.error', `${grantType}: ${name}`);
  });
  provider.on('grant.revoked', (ctx) => {
    const route = routeOf(ctx);
    if (route === 'token') state.counts.revokedGrants++;
    record('grant.revoked', route);
  });
  provider.on('device_authorization.success', () => {
    state.counts.deviceAuthorizations++;
    record('device_authorization.success');
  });
  provider.on('end_session.success', () => {
    state.counts.endSessions++;
    record('end_session.success');
  });
  provider.on('server_error', (_ctx, error) => record('server_error', errorName(error)));

  const { deviceInterval } = options;
  if (deviceInterval !== undefined) {
    // Registered first, so that it sees the answer of every later middleware (the PKCE check's included).
    provider.use(async (ctx: KoaContext, next: () => Promise<void>) => {
      await next();
      const body = ctx.body as { device_code?: string } | undefined;
      if (ctx.path === '/device/auth' && ctx.method === 'POST' && body?.device_code !== undefined) ctx.body = { ...body, interval: deviceInterval };
    });
  }
  provider.use(async (ctx: KoaContext, next: () => Promise<void>) => {
    if (options.dpop === true && ctx.path === tokenPath && ctx.method === 'POST' && ctx.get('dpop') !== '') await noteProofKey(ctx.get('dpop'));
    if (ctx.path === '/device/auth' && ctx.method === 'POST' && options.devicePkce === true) {
      const form = new URLSearchParams(await readBody(ctx.req));
      const challenge = form.get('code_challenge');
      if (challenge === null || form.get('code_challenge_method') !== 'S256') {
        ctx.status = 400;
        ctx.type = 'application/json';
        ctx.body = { error: 'invalid_request', error_description: 'PKCE (S256) is required for this client (test provider)' };
        return;
      }
      form.delete('code_challenge');
      form.delete('code_challenge_method');
      ctx.request.body = Object.fromEntries(form);
      await next();
      const deviceCode = (ctx.body as { device_code?: string } | undefined)?.device_code;
      if (deviceCode !== undefined) state.deviceChallenges.set(deviceCode, challenge);
      return;
    }
    if (ctx.path === tokenPath && ctx.method === 'POST' && options.deviceFlow === true) {
      // Read here only for device_code polls: the form is parsed again by oidc-provider from the raw text.
      const type = ctx.request.type;
      if (type === 'application/x-www-form-urlencoded') {
        const raw = await readBody(ctx.req);
        const form = new URLSearchParams(raw);
        if (form.get('grant_type') === DEVICE_CODE) {
          state.devicePollTimes.push(Date.now() - started);
          if (options.devicePkce === true) {
            const challenge = state.deviceChallenges.get(form.get('device_code') ?? '');
            const verifier = form.get('code_verifier') ?? '';
            if (challenge === undefined || createHash('sha256').update(verifier).digest('base64url') !== challenge) {
              ctx.status = 400;
              ctx.type = 'application/json';
              ctx.body = { error: 'invalid_grant', error_description: 'PKCE verification failed (test provider)' };
              return;
            }
            state.counts.devicePkceVerified++;
            form.delete('code_verifier');
          }
          if (state.slowDowns > 0) {
            state.slowDowns--;
            state.counts.slowDowns++;
            record('device.slow_down');
            ctx.status = 400;
            ctx.type = 'application/json';
            ctx.set('cache-control', 'no-store');
            ctx.body = { error: 'slow_down', error_description: 'polling too fast (test provider)' };
            return;
          }
        }
        // The stream is read: oidc-provider takes an upstream parser's `request.body` instead (it warns once).
        ctx.request.body = Object.fromEntries(form);
      }
    }
    if (ctx.path === tokenPath && ctx.method === 'POST' && state.tokenLatency > 0) {
      await new Promise((resolve) => setTimeout(resolve, state.tokenLatency));
    }
    await next();
    const plannedDelay = ctx.state.plannedDelay;
    const delay = typeof plannedDelay === 'number' ? plannedDelay : state.responseLatency;
    if (ctx.path === tokenPath && ctx.method === 'POST' && delay > 0) {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    if (ctx.path === '/.well-known/openid-configuration' && ctx.status === 200 && typeof ctx.body === 'object' && ctx.body !== null) {
      const discovery = ctx.body as Record<string, unknown>;
      if (options.advertisePkce === false) delete discovery.code_challenge_methods_supported;
      if (options.advertiseIss === false) delete discovery.authorization_response_iss_parameter_supported;
    }
    if (ctx.oidc?.route === 'revocation' && ctx.status === 200) {
      state.counts.revocations++;
      record('revocation.success');
    }
    const location = ctx.response.get('location');
    if (options.authorizationResponseIss !== undefined && location !== '' && (ctx.oidc?.route === 'authorization' || ctx.oidc?.route === 'resume')) {
      const url = new URL(location, issuer);
      if (url.searchParams.has('iss')) {
        if (options.authorizationResponseIss === null) url.searchParams.delete('iss');
        else url.searchParams.set('iss', options.authorizationResponseIss);
        ctx.redirect(url.href);
      }
    }
  });

  const dpopApi = createDPoPValidator();
  const tilePng = solidPng(256, TILE_COLOUR);
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', providerOrigin);
    const route = url.pathname.startsWith('/interaction/') ? interaction(req, res) : url.pathname === '/api' || url.pathname.startsWith('/tiles/') ? api(req, res, url) : url.pathname === '/api-moved' ? moved(req, res) : undefined;
    if (route === undefined) return callback(req, res);
    route.catch((error: unknown) => {
      record('test-provider-error', errorName(error));
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('interaction failed');
    });
  });

  /** The login form (any name works), then consent granted without asking. */
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const error = (form.get('error') ?? state.failures.shift()) as AuthorizationError | undefined;
      if (error !== undefined && error !== null) {
        await provider.interactionFinished(req, res, { error, error_description: `${error} (test provider)` }, { mergeWithLastSubmission: false });
        return;
      }
      const login = (form.get('login') ?? '').trim().toLowerCase().replace(/[^a-z0-9._-]/g, '');
      if (login === '') {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid, 'Type any user name.'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'login') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(loginPage(details.uid));
      return;
    }
    // consent: grant what was asked for, as a first-party provider does.
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = details.grantId !== undefined ? await provider.Grant.find(details.grantId) : undefined;
    const consented = grant ?? new provider.Grant({ accountId: details.session?.accountId, clientId: details.params.client_id as string });
    if (missingOIDCScope !== undefined) consented.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims !== undefined) consented.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) consented.addResourceScope(indicator, scopes.join(' '));
    const grantId = await consented.save();
    await provider.interactionFinished(req, res, { consent: grant === undefined ? { grantId } : {} }, { mergeWithLastSubmission: true });
  }

  /** `/api-moved`: the API behind a same-origin 307 (CORS as `/api`), the redirect a DPoP request must not follow blindly. */
  async function moved(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    const cors: Record<string, string> = origin !== undefined ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-headers': 'authorization, dpop', 'access-control-allow-methods': 'GET' }).end();
      return;
    }
    state.counts.movedApiCalls++;
    res.writeHead(307, { ...cors, location: `${providerOrigin}/api` }).end();
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const origin = req.headers.origin;
    const cors: Record<string, string> =
      origin !== undefined ? { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': 'dpop-nonce, www-authenticate' } : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-headers': 'authorization, dpop', 'access-control-allow-methods': 'GET', 'access-control-max-age': '600' }).end();
      return;
    }
    const hold = state.hold;
    if (hold !== undefined && hold.count > 0) {
      if (--hold.count === 0) hold.arrived();
      await hold.gate;
    }
    const tile = url.pathname !== '/api';
    state.counts.apiCalls++;
    for (const listener of listeners) listener();
    const header = req.headers.authorization ?? '';
    const claims = proofClaims(req.headers.dpop);
    let noted = false;
    let judgedAt = Date.now();
    const tokenExpiresAt = claims.ath === undefined ? undefined : state.accessTokenExpiry.get(claims.ath);
    const note = (outcome: string): void => {
      if (noted) return;
      noted = true;
      state.apiRequests.push({ path: url.pathname, scheme: header === '' ? 'none' : header.split(' ')[0]!, ...claims, outcome, judgedAt, tokenExpiresAt });
    };
    let found: Awaited<ReturnType<typeof introspect>>;
    if (options.dpop === true) {
      if (typeof req.headers.dpop === 'string') await noteProofKey(req.headers.dpop);
      // The token is looked up once, and judged alive or expired at that moment (`judgedAt`): a second lookup for
      // the answer could find it expired a loaded machine's moment later, refused with a time that says it was alive.
      let looked: StoredAccessToken | undefined;
      const checked = await dpopApi.check(req, `${providerOrigin}${url.pathname}`, async (token) => {
        looked = (await provider.AccessToken.find(token)) as StoredAccessToken | undefined;
        if (looked === undefined) return undefined;
        const isExpired = looked.isExpired; // (oidc-provider's getter reads the clock: read once, then note the time)
        judgedAt = Date.now();
        return looked.jkt === undefined ? { isExpired } : { isExpired, jkt: looked.jkt };
      });
      if (checked === 'replayed') state.counts.replayedProofs++;
      if (checked === 'ok' && state.apiNonce && claims.nonce !== state.apiNonceValue) {
        state.counts.apiNonceChallenges++;
        note('nonce-challenge');
        res
          .writeHead(401, { ...cors, 'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"', 'dpop-nonce': state.apiNonceValue })
          .end();
        return;
      }
      found = checked === 'ok' && looked !== undefined ? activeToken(looked) : { active: false };
      if (checked !== 'ok') {
        record('api.dpop-refused', checked);
        note(checked);
      }
    } else {
      found = header.startsWith('Bearer ') ? await introspect(header.slice(7)) : { active: false as const };
      judgedAt = Date.now(); // (after the token was judged alive or expired)
    }
    if (found.active && state.rejectNext > 0) {
      state.rejectNext--;
      found = { active: false };
      note('rejected');
    }
    if (!found.active) {
      state.counts.failedApiCalls++;
      record('api.unauthorized');
      note('unauthorized');
      const scheme = options.dpop === true ? 'DPoP' : 'Bearer';
      res.writeHead(401, { ...cors, 'content-type': 'application/json', 'www-authenticate': `${scheme} error="invalid_token"` }).end('{"error":"invalid_token"}');
      return;
    }
    note('ok');
    const nonce = options.dpop === true && state.apiNonce ? { 'dpop-nonce': state.apiNonceValue } : {};
    if (tile) res.writeHead(200, { ...cors, ...nonce, 'content-type': 'image/png', 'cache-control': 'no-store' }).end(tilePng);
    else res.writeHead(200, { ...cors, ...nonce, 'content-type': 'application/json' }).end(JSON.stringify(found));
  }

  async function introspect(accessToken: string): Promise<Introspection> {
    const token = (await provider.AccessToken.find(accessToken)) as StoredAccessToken | undefined;
    return token === undefined || token.isExpired ? { active: false } : activeToken(token);
  }

  return {
    issuer,
    apiUrl: `${providerOrigin}/api`,
    tilesUrl: `${providerOrigin}/tiles`,
    get apiNonce() {
      return state.apiNonce;
    },
    set apiNonce(value) {
      state.apiNonce = value;
    },
    rejectNextApiCalls(count) {
      state.rejectNext += count;
    },
    holdNextApiCalls(count) {
      state.hold?.release();
      let arrived!: () => void;
      let release!: () => void;
      const handle = { arrived: new Promise<void>((resolve) => (arrived = resolve)), gate: new Promise<void>((resolve) => (release = resolve)) };
      state.hold = { count, arrived, gate: handle.gate, release };
      return { arrived: handle.arrived, release };
    },
    get apiRequests() {
      return state.apiRequests;
    },
    get counts() {
      return state.counts;
    },
    get log() {
      return state.log;
    },
    get dpopKeys() {
      return state.dpopKeys;
    },
    get accessTokenTtl() {
      return state.accessTokenTtl;
    },
    set accessTokenTtl(value) {
      state.accessTokenTtl = value;
    },
    get tokenLatency() {
      return state.tokenLatency;
    },
    set tokenLatency(value) {
      state.tokenLatency = value;
    },
    get responseLatency() {
      return state.responseLatency;
    },
    set responseLatency(value) {
      state.responseLatency = value;
    },
    planTokenAnswers(plan) {
      state.plannedAnswers.push(...plan);
    },
    introspect,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setAccountClaims(login, claims) {
      if (claims === undefined) state.accountClaims.delete(login);
      else state.accountClaims.set(login, claims);
    },
    slowDownNext(count) {
      state.slowDowns += count;
    },
    get devicePollTimes() {
      return state.devicePollTimes;
    },
    failNextAuthorization(error, count = 1) {
      for (let index = 0; index < count; index++) state.failures.push(error);
    },
    reset() {
      state.counts = freshCounts();
      state.log = [];
      state.failures = [];
      state.slowDowns = 0;
      state.devicePollTimes = [];
      state.dpopKeys = new Map();
      state.accountClaims.clear();
      state.accessTokenTtl = options.accessTokenTtl ?? defaultAccessTokenTtl;
      state.tokenLatency = 0;
      state.responseLatency = 0;
      state.plannedAnswers = [];
      state.apiNonce = false;
      state.rejectNext = 0;
      state.apiRequests = [];
      state.hold?.release();
      state.hold = undefined;
      state.accessTokenExpiry = new Map();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An access token as oidc-provider's `AccessToken.find` returns it (the fields used here). */
interface StoredAccessToken {
  readonly isExpired: boolean;
  readonly accountId: string;
  readonly clientId: string;
  readonly scope?: string;
  readonly jkt?: string;
}

type Introspection = { active: false } | { active: true; sub: string; clientId: string; scope: string };

/** What the API answers for a token judged alive. */
function activeToken(token: StoredAccessToken): Introspection {
  return { active: true, sub: token.accountId, clientId: token.clientId, scope: token.scope ?? '' };
}

/** The claims a test looks at in a DPoP proof, decoded without checking (the validator checks). */
function proofClaims(proof: string | string[] | undefined): Pick<ApiRequestRecord, 'jti' | 'ath' | 'htu' | 'nonce' | 'iat'> {
  if (typeof proof !== 'string') return {};
  try {
    const { jti, ath, htu, nonce, iat } = JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString()) as { jti?: string; ath?: string; htu?: string; nonce?: string; iat?: unknown };
    return { jti, ath, htu, nonce, iat: typeof iat === 'number' ? iat : undefined };
  } catch {
    return {};
  }
}

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

interface KoaContext {
  path: string;
  method: string;
  status: number;
  body: unknown;
  type: string;
  req: IncomingMessage;
  request: { type: string; body?: unknown };
  set(name: string, value: string): void;
  get(name: string): string;
  oidc?: { route?: string };
  /** Koa's per-request state: `plannedDelay` (ms) of a planned token answer (`planTokenAnswers`). */
  state: Record<string, unknown>;
  response: { get(name: string): string };
  redirect(url: string): void;
}

function grantTypeOf(ctx: unknown): string {
  return String((ctx as { oidc?: { params?: { grant_type?: unknown } } }).oidc?.params?.grant_type ?? 'unknown');
}

function routeOf(ctx: unknown): string {
  return String((ctx as { oidc?: { route?: unknown } }).oidc?.route ?? 'unknown');
}

/** `invalid_grant: refresh token already used` — never a token value (oidc-provider's details carry none). */
function errorName(error: unknown): string {
  const { error: code, error_detail: detail, error_description: description, message } = error as Record<string, string | undefined>;
  return code !== undefined ? `${code}: ${detail ?? description ?? ''}` : String(message ?? error);
}

function displayName(login: string): string {
  return login.replace(/(^|[._-])([a-z])/g, (_match, separator: string, letter: string) => `${separator === '' ? '' : ' '}${letter.toUpperCase()}`);
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;
}

function loginPage(uid: string, message = ''): string {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  return page(
    'Sign in (test provider)',
    `<h1>Sign in</h1>${message === '' ? '' : `<p id="sign-in-message">${escapeHtml(message)}</p>`}
<form method="post" action="${action}" id="sign-in-form">
  <label>User name <input name="login" autocomplete="username" autofocus required></label>
  <button type="submit" id="sign-in-submit">Sign in</button>
</form>
<form method="post" action="${action}"><button type="submit" name="error" value="access_denied" id="sign-in-deny">Cancel</button></form>`,
  );
}

/** The page after an approved device sign-in. */
function deviceSuccessSource(ctx: { body: string }): void {
  ctx.body = page('Signed in (test provider)', '<h1 id="device-success">Sign-in complete</h1><p>You can close this page and return to your device.</p>');
}

/** RP-initiated logout confirms itself (as providers do when `id_token_hint` is valid). */
function logoutSource(ctx: { body: string }, form: string): void {
  ctx.body = page(
    'Signing out (test provider)',
    `<h1 id="op-logout">Signing out…</h1>${form.replace('</form>', '<input type="hidden" name="logout" value="yes"></form>')}
<button type="submit" form="op.logoutForm" value="yes" name="logout" id="logout-confirm">Sign out</button>
<script>document.getElementById('op.logoutForm').submit()</script>`,
  );
}

function postLogoutSuccessSource(ctx: { body: string }): void {
  ctx.body = page('Signed out (test provider)', '<h1 id="op-signed-out">Signed out</h1>');
}
