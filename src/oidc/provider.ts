import * as oauth from 'oauth4webapi';
import { hashKey } from '../core/digest.js';
import { SessionError } from '../core/errors.js';
import type { TokenSet } from '../core/token.js';
import { credentialKey, requireString } from '../providers/client-credentials.js';
import type { FetchTokenContext, TokenProvider } from '../providers/provider.js';
import { tokenSetFromBody } from '../providers/token-request.js';
import { discover, type Endpoint, issuerUrl, requestOptions, statusFailure, toSessionError } from './protocol.js';
import { postUserUpdate, readUser, updateUser } from './storage.js';

/** What `oidcProvider` takes: the public client of one OpenID provider. */
export interface OidcProviderOptions {
  /** The provider's issuer, e.g. `https://identity.dataspace.copernicus.eu/auth/realms/CDSE`; `https:` (`http:` only on loopback). */
  readonly issuer: string;
  /** The public client's id (no secret: a browser app cannot keep one). */
  readonly clientId: string;
  /** Space-separated scopes. Default `openid`; add `offline_access` where the provider issues refresh tokens only for it. */
  readonly scope?: string | undefined;
  /** Timeout of one request to the provider (ms). Default 10 000. */
  readonly timeout?: number | undefined;
  /** `expires_in` (s) assumed when the token response has none. Default 3600. */
  readonly defaultExpiresIn?: number | undefined;
}

/** The validated claims of the ID token (`sub`, and `name`, `email`… as the provider sends them). */
export interface UserClaims {
  readonly sub: string;
  readonly name?: string | undefined;
  readonly email?: string | undefined;
  readonly [claim: string]: unknown;
}

/** Who signed in: the ID token's validated claims, and the ID token itself (for `id_token_hint` at sign-out). */
export interface SignedInUser {
  readonly claims: UserClaims;
  readonly idToken?: string | undefined;
}

/** A code to exchange, staged by the callback in the one context that holds its verifier. */
export interface CodeExchange {
  /** The authorization response, validated by oauth4webapi (`validateAuthResponse`). */
  readonly parameters: URLSearchParams;
  readonly codeVerifier: string;
  /** The nonce sent with the request (with `openid` in the scope), checked against the ID token's. */
  readonly nonce: string | undefined;
  readonly redirectUri: string;
  /** Told who signed in before the token is shared, so that every context that gets the token can find the user. */
  readonly received: (user: SignedInUser, issuedAt: number) => Promise<void>;
}

// By credential key, not by provider: the session of a key keeps the first provider created for it, whichever
// `oidcSession` staged the code.
const exchanges = new Map<string, CodeExchange>();

/** Stages `exchange` for the next token request of the credential `key` in this context (taken once). */
export function stageExchange(key: string, exchange: CodeExchange): () => void {
  exchanges.set(key, exchange);
  return () => {
    if (exchanges.get(key) === exchange) exchanges.delete(key);
  };
}

/** Refresh tokens this context has exchanged, as SHA-256 keys, per provider: at most this many are remembered. */
const MAX_SPENT = 64;

/** The provider of `oidcSession`, under the credential key `authorization_code|issuer|client id|scope`. */
export interface OidcProvider extends TokenProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}

/**
 * The authorization code grant with PKCE for a public client (OpenID Connect), on oauth4webapi: a sign-in's code is
 * exchanged in the context that holds its verifier; afterwards the shared refresh token is rotated by whichever
 * context refreshes, one at a time. With `createSession` in a worker (or any context that does not sign in) it joins
 * the shared session: the token and the refresh token come from the context that signed in.
 */
export function oidcProvider(options: OidcProviderOptions): OidcProvider {
  const { issuer, clientId, scope = 'openid', timeout = 10_000, defaultExpiresIn = 3600 } = options;
  requireString('issuer', issuer);
  requireString('clientId', clientId);
  issuerUrl(issuer);
  const key = credentialKey('authorization_code', issuer, clientId, scope);
  const client: oauth.Client = { client_id: clientId };
  const spent = new Set<string>();
  // The user of the last sign-in or refresh in this context: what a refreshed ID token is compared with where no
  // record of who signed in can be read (no IndexedDB: Node, Deno, Workers).
  let lastUser: UserClaims | undefined;

  const request = async (context: FetchTokenContext, label: string, run: (as: oauth.AuthorizationServer, endpoint: Endpoint) => Promise<Response>) => {
    // Our own timer, as every token request has (Node 20's AbortSignal.any holds AbortSignal.timeout weakly).
    const timer = new AbortController();
    const timeoutId = setTimeout(() => timer.abort(new DOMException(`${label} did not answer in time`, 'TimeoutError')), timeout);
    const signal = AbortSignal.any([context.signal, timer.signal]);
    const endpoint: Endpoint = { issuer, fetch: context.fetch, signal };
    try {
      const as = await discover(endpoint);
      const sentAt = context.clock.now();
      const response = await run(as, endpoint);
      const failure = statusFailure(response, label, context.clock.now());
      if (failure !== undefined) throw failure;
      return { as, response, sentAt };
    } catch (error) {
      throw toSessionError(timer.signal.aborted ? timer.signal.reason : error, label, context.signal);
    } finally {
      clearTimeout(timeoutId);
    }
  };

  const exchangeCode = async (context: FetchTokenContext, exchange: CodeExchange): Promise<TokenSet> => {
    const label = 'The code exchange';
    const { as, response, sentAt } = await request(context, label, (as, endpoint) =>
      oauth.authorizationCodeGrantRequest(as, client, oauth.None(), exchange.parameters, exchange.redirectUri, exchange.codeVerifier, requestOptions(endpoint)),
    );
    let result: oauth.TokenEndpointResponse;
    try {
      // Checks the ID token's iss, aud (and azp), exp, iat and nonce; requires one when we sent a nonce (openid).
      result = await oauth.processAuthorizationCodeResponse(as, client, response, {
        expectedNonce: exchange.nonce ?? oauth.expectNoNonce,
        requireIdToken: exchange.nonce !== undefined,
      });
    } catch (error) {
      throw toSessionError(error, label, context.signal);
    }
    const set = tokenSetFromBody(result, sentAt, defaultExpiresIn, response.status);
    if (set.refreshToken === undefined) {
      // Without one, no other context could renew the session: say why instead of failing an hour later.
      throw new SessionError('invalid_response', 'The provider issued no refresh token (is offline_access in the scope, or refresh tokens enabled for the client?)');
    }
    const claims = oauth.getValidatedIdTokenClaims(result) as UserClaims | undefined;
    lastUser = claims;
    // Without `openid` in the scope there is no ID token: signed in all the same, as a user without claims.
    await exchange.received({ claims: claims ?? { sub: '' }, idToken: result.id_token }, set.token.issuedAt);
    return set;
  };

  const refresh = async (context: FetchTokenContext, sent: string): Promise<TokenSet> => {
    // Never sent twice from here: a token this context has exchanged (whose answer brought the next one) is spent.
    if (spent.has(hashKey(sent))) {
      throw new SessionError('invalid_grant', 'The refresh token was already used and no newer one is known');
    }
    const label = 'The token endpoint';
    const { as, response, sentAt } = await request(context, label, (as, endpoint) =>
      oauth.refreshTokenGrantRequest(as, client, oauth.None(), sent, requestOptions(endpoint)),
    );
    let result: oauth.TokenEndpointResponse;
    try {
      result = await oauth.processRefreshTokenResponse(as, client, response);
    } catch (error) {
      throw toSessionError(error, label, context.signal);
    }
    const set = tokenSetFromBody(result, sentAt, defaultExpiresIn, response.status);
    if (set.refreshToken !== undefined && set.refreshToken !== sent) {
      spent.add(hashKey(sent));
      if (spent.size > MAX_SPENT) spent.delete(spent.values().next().value!);
    }
    const claims = oauth.getValidatedIdTokenClaims(result) as UserClaims | undefined;
    if (claims !== undefined && result.id_token !== undefined) await refreshedUser({ claims, idToken: result.id_token }, set.token.issuedAt);
    // A server that does not rotate keeps the one we sent.
    return { token: set.token, refreshToken: set.refreshToken ?? sent };
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
