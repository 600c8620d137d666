import { fetchWithToken } from './fetch-with-token.js';
import { isSessionError, type SessionError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import { compileMatch, type UrlMatch, type UrlMatcher } from './url-match.js';


/** The part of a service worker's `FetchEvent` this helper uses (so that it needs no WebWorker lib types). */
export interface AuthFetchEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}

/** Options of `handleAuthFetch` and `installAuthFetch`. */
export interface AuthFetchOptions {
  /** The session whose token is sent. */
  readonly session: Session;
  /**
   * Which requests get the token (see `UrlMatch`): e.g. `'/api/'` (same origin) or
   * `'https://services.sentinel-hub.com/'`. Required: nothing is authorised by default.
   */
  readonly match: UrlMatch;
  /**
   * Called with every `SessionError` behind a failed request: no token could be had (the page then sees a network
   * error, as if the API were unreachable), or the API answered 401 twice (`token_rejected`; the page gets that 401
   * response). Default: none (token failures also reach the session's `error` event).
   */
  readonly onError?: ((error: SessionError, request: Request) => void) | undefined;
  /** The fetch that sends requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
}

// Options objects are usually created once per worker; compile their match once too.
const matchers = new WeakMap<AuthFetchOptions, UrlMatcher>();

/**
 * Answers a service worker `fetch` event with the session's token when the request matches, and returns true;
 * returns false (and leaves the event alone) otherwise.
 *
 * Requests that do not match, navigations, and requests that already carry an `Authorization` header are left
 * untouched. A matching request is sent with `Authorization` and the 401 refresh-once rule of `createClient`.
 *
 * @example
 * self.addEventListener('fetch', (event) => {
 *   if (handleAuthFetch(event, { session, match: '/api/' })) return;
 *   // …other routes
 * });
 */
export function handleAuthFetch(event: AuthFetchEvent, options: AuthFetchOptions): boolean {
  const { request } = event;
  if (request.mode === 'navigate' || request.headers.has('authorization') || !matcherFor(options)(new URL(request.url))) {
    return false;
  }
  event.respondWith(
    fetchWithToken(options.session, request, { fetch: options.fetch }).catch((error: unknown) => {
      if (!isSessionError(error)) throw error; // a network error or an abort: the page sees it as without us
      options.onError?.(error, request);
      if (error.code === 'token_rejected' && error.response !== undefined) return error.response;
      throw error;
    }),
  );
  return true;
}

function matcherFor(options: AuthFetchOptions): UrlMatcher {
  let matches = matchers.get(options);
  if (matches === undefined) matchers.set(options, (matches = compileMatch(options.match)));
  return matches;
}

/** The part of a service worker's global scope `installAuthFetch` uses. */
export interface FetchEventTarget {
  addEventListener(type: 'fetch', listener: (event: AuthFetchEvent) => void): void;
  removeEventListener(type: 'fetch', listener: (event: AuthFetchEvent) => void): void;
}

/**
 * Adds a `fetch` listener to the service worker that calls `handleAuthFetch` for every request. Returns the function
 * that removes it. Register it before other `fetch` listeners: the first listener that responds wins.
 *
 * @example
 * // sw.ts
 * import { createSession, refreshTokenGrant } from 'shared-session';
 * import { installAuthFetch } from 'shared-session/service-worker';
 * const session = createSession({ provider: refreshTokenGrant({ tokenUrl, clientId, refreshToken }) });
 * installAuthFetch({ session, match: 'https://services.sentinel-hub.com/' });
 */
export function installAuthFetch(options: AuthFetchOptions, scope: FetchEventTarget = globalThis as unknown as FetchEventTarget): () => void {
  const listener = (event: AuthFetchEvent): void => void handleAuthFetch(event, options);
  matcherFor(options); // fail at install on a bad match, not on the first request
  scope.addEventListener('fetch', listener);
  return () => scope.removeEventListener('fetch', listener);
}
