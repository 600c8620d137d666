import * as oauth from 'oauth4webapi';
import { SessionError } from '../core/errors.js';
import { signInSession, type Session } from '../core/session.js';
import type { Token } from '../core/token.js';
import { maxAgeOf, OWN_PARAMETERS } from './parameters.js';
import { toSessionError } from './protocol.js';
import { stageExchange } from './provider.js';
import { OIDC_FORMAT, type Transaction } from './storage.js';
import type { SignedInUser } from './user.js';

/** What an authorization request needs beyond the provider's metadata. */
export interface AuthorizationSettings {
  readonly key: string;
  readonly clientId: string;
  readonly scope: string;
  readonly redirectUri: string;
  /** Same-origin path to show after the callback. */
  readonly returnTo: string;
  readonly popup: boolean;
  readonly now: number;
  /** Extra parameters (`prompt`, `login_hint`, `kc_idp_hint`…); never one of the protocol's own. */
  readonly parameters?: Readonly<Record<string, string>> | undefined;
  /** The app's own state, given back by `ready` after the callback. */
  readonly appState?: unknown;
}

/**
 * A new authorization request: a random `state`, PKCE verifier (S256 challenge) and, with `openid`, `nonce` (all
 * from oauth4webapi, 32 random bytes each), and the URL of the provider's authorization endpoint that carries them.
 */
export async function createAuthorization(
  as: oauth.AuthorizationServer,
  settings: AuthorizationSettings,
): Promise<{ url: URL; transaction: Transaction }> {
  const state = oauth.generateRandomState();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const nonce = settings.scope.split(' ').includes('openid') ? oauth.generateRandomNonce() : undefined;
  const maxAge = maxAgeOf(settings.parameters);
  const url = new URL(as.authorization_endpoint!);
  for (const [name, value] of Object.entries(settings.parameters ?? {})) {
    if (!OWN_PARAMETERS.has(name)) url.searchParams.set(name, value);
  }
  url.searchParams.set('client_id', settings.clientId);
  url.searchParams.set('redirect_uri', settings.redirectUri);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', settings.scope);
  url.searchParams.set('state', state);
  if (nonce !== undefined) url.searchParams.set('nonce', nonce);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set('code_challenge_method', 'S256');
  const transaction: Transaction = {
    v: OIDC_FORMAT,
    key: settings.key,
    state,
    codeVerifier,
    ...(nonce !== undefined && { nonce }),
    redirectUri: settings.redirectUri,
    returnTo: settings.returnTo,
    popup: settings.popup,
    createdAt: settings.now,
    ...(maxAge !== undefined && { maxAge }),
    ...(settings.appState !== undefined && { appState: settings.appState }),
  };
  return { url, transaction };
}

/**
 * Finishes a sign-in from its authorization response (the callback URL's parameters) and its transaction, which the
 * caller took from storage (once): the response is validated (`state`, RFC 9207 `iss` when the provider advertises
 * it, then the provider's error if it sent one), and the code is exchanged by `session` in this context, under the
 * lock, after signing out everywhere (see `SessionCore.signIn`). `received` is told who signed in before the token
 * is shared.
 */
export async function completeAuthorization(
  session: Session,
  as: oauth.AuthorizationServer,
  clientId: string,
  response: URLSearchParams,
  transaction: Transaction,
  received: (user: SignedInUser, issuedAt: number) => Promise<void>,
): Promise<Token> {
  // Looked up by its `state` in the browser; checked here too, for callers that hold the transaction themselves.
  if (response.get('state') !== transaction.state) {
    throw new SessionError('invalid_state', 'The authorization response is for another sign-in (state mismatch)');
  }
  let parameters: URLSearchParams;
  try {
    parameters = oauth.validateAuthResponse(as, { client_id: clientId }, response, transaction.state);
  } catch (error) {
    throw toSessionError(error, 'The authorization response is invalid');
  }
  const withdraw = stageExchange(transaction.key, {
    parameters,
    codeVerifier: transaction.codeVerifier,
    state: transaction.state,
    nonce: transaction.nonce,
    redirectUri: transaction.redirectUri,
    maxAge: transaction.maxAge,
    received,
  });
  try {
    const token = await signInSession(session);
    withdraw();
    return token;
  } catch (error) {
    // Its handle closed before the code went out: another handle of the credential may send it.
    if (withdraw() && error instanceof SessionError && error.code === 'closed') unsent.add(error);
    throw error;
  }
}

const unsent = new WeakSet<object>();

/** Whether `error` ended a `completeAuthorization` before its code was sent (the session was closed first). */
export function unsentExchange(error: unknown): boolean {
  return typeof error === 'object' && error !== null && unsent.has(error);
}

/** The parameters an authorization response may put into the redirect URI's query (and Keycloak's `session_state`). */
export const RESPONSE_PARAMETERS = ['code', 'state', 'iss', 'error', 'error_description', 'error_uri', 'session_state'] as const;

/** Whether `url` is an authorization response for `redirectUri`: the same origin and path, with `state` and a code or error. */
export function isAuthorizationResponse(url: URL, redirectUri: string): boolean {
  const expected = new URL(redirectUri);
  const { searchParams } = url;
  return (
    url.origin === expected.origin &&
    url.pathname === expected.pathname &&
    searchParams.has('state') &&
    (searchParams.has('code') || searchParams.has('error'))
  );
}

/** `url` without the authorization response's parameters: what the address bar shows once the callback is read. */
export function withoutResponse(url: URL): URL {
  const cleaned = new URL(url.href);
  for (const name of RESPONSE_PARAMETERS) cleaned.searchParams.delete(name);
  return cleaned;
}

/**
 * A return path on `origin` (path, search and hash), or an `invalid_options` error for one on another origin — also
 * for a path that would be read as another origin once stored (`/.//evil.example` is the path `//evil.example`).
 */
export function sameOriginPath(target: string, base: URL): string {
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    throw new SessionError('invalid_options', 'returnTo must be a path or URL on the page\'s own origin');
  }
  const path = url.pathname + url.search + url.hash;
  if (url.origin !== base.origin || new URL(path, base).origin !== base.origin) {
    throw new SessionError('invalid_options', 'returnTo must be on the page\'s own origin');
  }
  return path;
}
