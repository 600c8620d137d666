import * as oauth from 'oauth4webapi';
import { SessionError } from '../core/errors.js';
import type { TokenSet } from '../core/token.js';
import { credentialKey, requireString } from '../providers/client-credentials.js';
import type { FetchTokenContext, TokenProvider } from '../providers/provider.js';
import { LATE_ANSWER_WINDOW, refreshSender, STOPPED_GRACE } from '../providers/refresh-in-flight.js';
import { Rotation } from '../providers/rotations.js';
import { tokenSetFromBody } from '../providers/token-request.js';
import { maxAgeOf, tokenParametersKey } from './parameters.js';
import { DEFAULT_TIMEOUT, discover, type Endpoint, issuerUrl, requestOptions, statusFailure, toSessionError, withoutSecrets, withTimeout } from './protocol.js';
import { postUserUpdate, readUser, updateUser } from './storage.js';
import type { SignedInUser, UserClaims } from './user.js';
import type * as DPoPModule from './dpop.js';
import type { DPoPSigner } from './dpop.js';

export type { SignedInUser, UserClaims };

/**
 * The DPoP module, loaded by the first session that asks for DPoP: apps without it never load it (package.json
 * `imports`, so that bundlers make it a chunk of its own and the size budgets of the sign-in leave it out).
 */
export const loadDPoP = (): Promise<typeof DPoPModule> => import('#oidc-dpop');

/** What `oidcProvider` takes: the public client of one OpenID provider. */
export interface OidcProviderOptions {
  /** The provider's issuer, e.g. `https://identity.dataspace.copernicus.eu/auth/realms/CDSE`; `https:` (`http:` only on loopback). */
  readonly issuer: string;
  /** The public client's id (no secret: a browser app cannot keep one). */
  readonly clientId: string;
  /** Space-separated scopes. Default `openid`; add `offline_access` where the provider issues refresh tokens only for it. */
  readonly scope?: string | undefined;
  /**
   * Extra authorization request parameters (`prompt`, `login_hint`, `audience`, `resource`, Keycloak's
   * `kc_idp_hint`…). Those that change the token (all but the login page's: `prompt`, `login_hint`, `ui_locales`,
   * `display`, `max_age`, `kc_idp_hint`…) are part of the credential key: give a worker's `oidcProvider` the same.
   * With `max_age`, the ID token's `auth_time` must be that recent. Default none.
   */
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
  /** The longest wait for one answer of the provider (ms): discovery, token, revocation. Default 10 000. */
  readonly timeout?: number | undefined;
  /** `expires_in` (s) assumed when the token response has none. Default 3600. */
  readonly defaultExpiresIn?: number | undefined;
  /**
   * How long (ms) a refresh request that left is waited on for its answer, past `timeout`, before its refresh token
   * counts as spent: it is never sent twice, so with no answer in this window (or a connection broken after the
   * request went out) every context is signed out (`invalid_grant`, then `login_required`). Default 60 000.
   */
  readonly lateAnswerWindow?: number | undefined;
  /**
   * Sender-constrained tokens (DPoP, RFC 9449): one non-extractable key for every context of the origin, kept in
   * IndexedDB; `dpop_jkt` binds the sign-in's code to it, and every token request carries a proof of it. The tokens
   * are `DPoP` tokens: an API needs `Authorization: DPoP <token>` and a proof (`session.dpopProof`, `createClient`).
   * A `Bearer` answer is refused, unless `{ allowBearer: true }`. Part of the credential key: give a worker's
   * `oidcProvider` the same. Default false (Bearer).
   */
  readonly dpop?: boolean | { readonly allowBearer?: boolean | undefined } | undefined;
}

/**
 * Settings of `oidcProvider` that no app sets (yet): the token types the session can use. `DPoP` belongs here once
 * the session sends DPoP proofs (its own issue); until then only `Bearer` is accepted.
 * @internal
 */
export interface OidcProviderInternals {
  /** Lower-case `token_type` values accepted from the token endpoint. Default `['bearer']`. */
  readonly tokenTypes?: readonly string[] | undefined;
}

/** A code to exchange, staged by the callback in the one context that holds its verifier. */
export interface CodeExchange {
  /** The authorization response, validated by oauth4webapi (`validateAuthResponse`). */
  readonly parameters: URLSearchParams;
  readonly codeVerifier: string;
  /** The nonce sent with the request (with `openid` in the scope), checked against the ID token's. */
  readonly nonce: string | undefined;
  readonly redirectUri: string;
  /** The `max_age` sent (s), if any: the ID token must have an `auth_time` that recent. */
  readonly maxAge?: number | undefined;
  /** The sign-in's `state` (its DPoP key is kept under it). */
  readonly state?: string | undefined;
  /** Told who signed in before the token is shared, so that every context that gets the token can find the user. */
  readonly received: (user: SignedInUser, issuedAt: number) => Promise<void>;
}

// By credential key, not by provider: the session of a key keeps the first provider created for it, whichever
// `oidcSession` staged the code.
const exchanges = new Map<string, CodeExchange>();

/**
 * Stages `exchange` for the next token request of the credential `key` in this context (taken once). The returned
 * function withdraws it, telling whether it was still staged (its code never sent).
 */
export function stageExchange(key: string, exchange: CodeExchange): () => boolean {
  exchanges.set(key, exchange);
  return () => {
    if (exchanges.get(key) !== exchange) return false;
    exchanges.delete(key);
    return true;
  };
}

/**
 * The provider of `oidcSession`, under the credential key `authorization_code|issuer|client id|scope` and the
 * authorization parameters that change the token.
 */
export interface OidcProvider extends TokenProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
  /** Whether tokens are DPoP-bound (the `dpop` option). */
  readonly dpop: boolean;
}

/**
 * The authorization code grant with PKCE for a public client (OpenID Connect), on oauth4webapi: a sign-in's code is
 * exchanged in the context that holds its verifier; afterwards the shared refresh token is rotated by whichever
 * context refreshes, one at a time. With `createSession` in a worker (or any context that does not sign in) it joins
 * the shared session: the token and the refresh token come from the context that signed in.
 */
export function oidcProvider(options: OidcProviderOptions, internals: OidcProviderInternals = {}): OidcProvider {
  const { issuer, clientId, scope = 'openid', timeout = DEFAULT_TIMEOUT, defaultExpiresIn = 3600, authorizationParams, lateAnswerWindow = LATE_ANSWER_WINDOW, dpop } = options;
  requireString('issuer', issuer);
  requireString('clientId', clientId);
  issuerUrl(issuer);
  // Past 2^31 - 1 ms timers fire at once: every request would time out.
  if (!(Number.isFinite(timeout) && timeout > 0 && timeout <= 2_147_483_647)) {
    throw new SessionError('invalid_options', 'timeout must be a positive number of ms, at most 2147483647');
  }
  if (!(Number.isFinite(lateAnswerWindow) && lateAnswerWindow > 0 && lateAnswerWindow <= 2_147_483_647)) {
    throw new SessionError('invalid_options', 'lateAnswerWindow must be a positive number of ms, at most 2147483647');
  }
  // Refused here, not at the first sign-in.
  maxAgeOf(authorizationParams);
  // As `createSession`'s: true, false or { allowBearer }; anything else is a mistake, not DPoP on (or off) silently.
  if (!(dpop === undefined || typeof dpop === 'boolean' || (typeof dpop === 'object' && dpop !== null && /^(undefined|boolean)$/.test(typeof dpop.allowBearer)))) {
    throw new SessionError('invalid_options', 'dpop must be a boolean or { allowBearer }');
  }
  const bound = dpop !== undefined && dpop !== false;
  // With DPoP: only a DPoP token, or a Bearer one where the app allows the downgrade; without, only Bearer (a DPoP
  // token would fail at every API without the proofs this session then does not make).
  const tokenTypes = new Set(internals.tokenTypes ?? (bound ? ['dpop', ...(typeof dpop === 'object' && dpop.allowBearer === true ? ['bearer'] : [])] : ['bearer']));
  const parametersKey = tokenParametersKey(authorizationParams);
  // Without such parameters (and DPoP) the key is what it always was: a stored sign-in survives an upgrade.
  const key = credentialKey('authorization_code', issuer, clientId, scope, ...(parametersKey === undefined ? [] : [parametersKey]), ...(bound ? ['dpop'] : []));
  const client: oauth.Client = { client_id: clientId };
  // The refresh tokens this context has spent (shared with every provider of this key in this JavaScript context).
  let rotation: Rotation | undefined;
  // The user of the last sign-in or refresh in this context: what a refreshed ID token is compared with where no
  // record of who signed in can be read (no IndexedDB: Node, Deno, Workers).
  let lastUser: UserClaims | undefined;

  /**
   * One request, discovery included, within `timeout` (or `limit`); 429 and 5xx as failures the session remembers.
   * With a DPoP `signer`: a proof of its key, and a nonce challenge answered once (see `DPoPSigner.send`).
   */
  const request = (
    context: FetchTokenContext,
    label: string,
    signer: DPoPSigner | undefined,
    run: (as: oauth.AuthorizationServer, endpoint: Endpoint, DPoP?: oauth.DPoPHandle) => Promise<Response>,
    limit = timeout,
  ) =>
    withTimeout(label, limit, context.signal, async (signal) => {
      const endpoint: Endpoint = { issuer, fetch: context.fetch, signal, timeout };
      const as = await discover(endpoint);
      const sentAt = context.clock.now();
      const response = await (signer ? signer.send(as.token_endpoint!, (DPoP) => run(as, endpoint, DPoP)) : run(as, endpoint));
      const failure = statusFailure(response, label, context.clock.now());
      if (failure !== undefined) throw failure;
      return { as, response, sentAt };
    });

  /** Only a token type this session can use: a DPoP-bound token sent as a bearer token fails at every API. */
  const checkTokenType = (result: oauth.TokenEndpointResponse): void => {
    if (!tokenTypes.has(result.token_type.toLowerCase())) {
      throw new SessionError('invalid_response', `The token endpoint issued a ${result.token_type} token, which this session cannot use`);
    }
  };

  const exchangeCode = async (context: FetchTokenContext, exchange: CodeExchange): Promise<TokenSet> => {
    const label = 'The code exchange';
    const signer = bound ? await (await loadDPoP()).signInSigner(exchange.state, key) : undefined;
    const { as, response, sentAt } = await request(context, label, signer, (as, endpoint, DPoP) =>
      oauth.authorizationCodeGrantRequest(as, client, oauth.None(), exchange.parameters, exchange.redirectUri, exchange.codeVerifier, { ...requestOptions(endpoint), ...(DPoP && { DPoP }) }),
    );
    let result: oauth.TokenEndpointResponse;
    try {
      // Checks the ID token's iss, aud (and azp), exp, iat and nonce; requires one when we sent a nonce (openid), and
      // with `max_age` an `auth_time` that recent (OpenID Connect Core §3.1.3.7 (13)).
      result = await oauth.processAuthorizationCodeResponse(as, client, response, {
        expectedNonce: exchange.nonce ?? oauth.expectNoNonce,
        requireIdToken: exchange.nonce !== undefined || exchange.maxAge !== undefined,
        ...(exchange.maxAge !== undefined && { maxAge: exchange.maxAge }),
      });
    } catch (error) {
      throw withoutSecrets(toSessionError(error, label, context.signal), [exchange.parameters.get('code') ?? undefined, exchange.codeVerifier]);
    }
    checkTokenType(result);
    const set = tokenSetFromBody(result, sentAt, defaultExpiresIn, response.status);
    if (set.refreshToken === undefined) {
      // Without one, no other context could renew the session: say why instead of failing an hour later.
      throw new SessionError('invalid_response', 'The provider issued no refresh token (is offline_access in the scope, or refresh tokens enabled for the client?)');
    }
    // Every context that gets the token must find its key: the sign-in's key is the credential's from now on.
    await signer?.keep(set.token.issuedAt);
    const claims = oauth.getValidatedIdTokenClaims(result) as UserClaims | undefined;
    lastUser = claims;
    // Without `openid` in the scope there is no ID token: signed in all the same, as a user without claims.
    await exchange.received({ claims: claims ?? { sub: '' }, idToken: result.id_token }, set.token.issuedAt);
    return set;
  };

  const refresh = async (context: FetchTokenContext, shared: string): Promise<TokenSet> => {
    const grant = (rotation ??= new Rotation(key, shared));
    // Only the shared refresh token (never one kept from before a sign-out), and never twice from here: a token this
    // context has exchanged (or had answered 2xx) is spent.
    const sent = shared;
    if (rotation.isSpent(sent)) {
      throw new SessionError('invalid_grant', 'The refresh token was already used and no newer one is known');
    }
    const label = 'The token endpoint';
    // The request that carries `sent` is never abandoned, nor `sent` sent again, while its answer may still come
    // (refresh-in-flight.ts): a later refresh with it joins the one in flight; a lost answer spends it.
    const sender = refreshSender({
      key,
      refreshToken: sent,
      fetch: context.fetch,
      clock: context.clock,
      signal: context.signal,
      window: lateAnswerWindow,
      isSpent: () => grant.isSpent(sent),
      listener: {
        status: (status) => {
          if (status >= 200 && status <= 299) grant.spend(sent);
        },
        settled: (outcome) => {
          if (outcome.kind === 'lost') grant.spend(sent);
        },
      },
    });
    const signer = bound ? await (await loadDPoP()).refreshSigner(key) : undefined;
    // Bounded by the window (and its stopped-timer grace) after discovery's `timeout`, not by `timeout` alone.
    const { as, response, sentAt } = await request(
      context,
      label,
      signer,
      (as, endpoint, DPoP) => oauth.refreshTokenGrantRequest(as, client, oauth.None(), sent, { ...requestOptions({ ...endpoint, fetch: sender.fetch }), ...(DPoP && { DPoP }) }),
      Math.min(2_147_483_647, timeout + lateAnswerWindow + 2 * STOPPED_GRACE),
    );
    // A 2xx answer means the provider spent the token (it rotated, or may have): spent before the answer is read,
    // so that an answer we refuse can never make us send it again.
    const answered = response.ok;
    if (answered) rotation.spend(sent);
    try {
      const result = await oauth.processRefreshTokenResponse(as, client, response);
      checkTokenType(result);
      const set = tokenSetFromBody(result, sentAt, defaultExpiresIn, response.status);
      const next = set.refreshToken ?? sent;
      // A server that does not rotate keeps the one we sent: it is current again (`rotated` of a token to itself).
      rotation.rotated(sent, next);
      const claims = oauth.getValidatedIdTokenClaims(result) as UserClaims | undefined;
      if (claims !== undefined && result.id_token !== undefined) await refreshedUser({ claims, idToken: result.id_token }, set.token.issuedAt);
      return { token: set.token, refreshToken: next };
    } catch (error) {
      const failure = withoutSecrets(toSessionError(error, label, context.signal), [sent]);
      if (!answered || failure.code === 'invalid_grant') throw failure;
      // The refresh token is spent and its successor refused: the grant is over. `invalid_grant` signs every
      // context out (the transports do that for a dead refresh token) instead of any of them sending it again.
      throw new SessionError('invalid_grant', `The refresh answer was refused, and the refresh token it spent cannot be sent again: signed out (${failure.message})`, {
        status: failure.status,
        cause: failure,
      });
    }
  };

  /**
   * A refresh brought an ID token (oauth4webapi checked its iss, aud, azp, exp and iat): OpenID Connect Core §12.2
   * wants the sign-in's `iss` and `sub`, and its `auth_time` when sent. Another user's is never mixed with the
   * sign-in's: `invalid_grant`, which signs every context out (as a dead refresh token does), and its token is
   * never shared. Otherwise it is kept as the sign-in's user (stored, and told to every context).
   */
  const refreshedUser = async (user: SignedInUser, issuedAt: number): Promise<void> => {
    const record = typeof indexedDB === 'undefined' ? undefined : await readUser(key).catch(() => undefined);
    const signedIn = record?.user.claims ?? lastUser;
    if (signedIn !== undefined) {
      const changed = (['iss', 'sub', 'auth_time'] as const).find(
        (claim) => (claim !== 'auth_time' || signedIn.auth_time !== undefined) && user.claims[claim] !== signedIn[claim],
      );
      if (changed !== undefined) {
        throw new SessionError('invalid_grant', `The ID token of a refresh is not of the signed-in user's sign-in (its ${changed} differs): signed out`);
      }
    }
    lastUser = user.claims;
    if (record === undefined) return;
    const kept = await updateUser(key, user, record.signedInAt, issuedAt).catch(() => false);
    if (kept) postUserUpdate({ v: record.v, key, user: { claims: user.claims, idToken: user.idToken }, signedInAt: record.signedInAt, updatedAt: issuedAt });
  };

  return {
    key,
    issuer,
    clientId,
    scope,
    dpop: bound,
    canRefresh: true,
    usesRefreshToken: true,
    signsIn: true,
    fetchToken(context) {
      if (context.signIn === true) {
        // Only the sign-in's own fetch takes the code: one that refreshes for another context must not spend it.
        const exchange = exchanges.get(key);
        exchanges.delete(key);
        if (exchange !== undefined) return exchangeCode(context, exchange);
        return Promise.reject(new SessionError('invalid_state', 'No sign-in to complete in this context'));
      }
      // Only the shared refresh token: never one this provider kept from before a sign-out.
      if (context.refreshToken !== undefined) return refresh(context, context.refreshToken);
      return Promise.reject(new SessionError('login_required', 'Not signed in: the session needs a sign-in'));
    },
  };
}
