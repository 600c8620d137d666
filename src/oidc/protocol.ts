import * as oauth from 'oauth4webapi';
import { abortError, codeForOAuthError, isSessionError, SessionError, type ErrorCode } from '../core/errors.js';
import { parseRetryAfter } from '../core/delay.js';

/** Where the provider lives and how requests reach it. */
export interface Endpoint {
  readonly issuer: string;
  readonly fetch: typeof globalThis.fetch;
  readonly signal?: AbortSignal | undefined;
  /** The longest wait for one answer of the provider (ms). Default `DEFAULT_TIMEOUT`. */
  readonly timeout?: number | undefined;
}

/** Timeout of one request to the provider (ms), when the options give none. */
export const DEFAULT_TIMEOUT = 10_000;

/** Hosts on which an `http:` issuer is allowed: a provider on this machine (tests, a local sandbox), never another. */
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The issuer as a URL, refusing anything but `https:`, or `http:` on a loopback host. oauth4webapi refuses `http:`
 * everywhere; its `allowInsecureRequests` is set only for these (see `requestOptions`).
 */
export function issuerUrl(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new SessionError('invalid_options', 'issuer must be an absolute URL');
  }
  if (isAllowedUrl(url, url)) return url;
  throw new SessionError('invalid_options', 'issuer must use https: (http: only on 127.0.0.1, [::1] or localhost)');
}

/** `https:`, or `http:` on a loopback host when the issuer is on one too: the only URLs fetched or navigated to. */
function isAllowedUrl(url: URL, issuer: URL): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && LOOPBACK.has(url.hostname) && issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` with a signal that aborts after `timeout` ms (or with `signal`): every wait on the provider ends.
 * The timer is ours, not `AbortSignal.timeout` (Node 20's `AbortSignal.any` holds that weakly: it might never fire).
 */
export async function withTimeout<T>(label: string, timeout: number, signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timer = new AbortController();
  const timeoutId = setTimeout(() => timer.abort(new DOMException(`${label} did not answer in time`, 'TimeoutError')), timeout);
  const bounded = signal === undefined ? timer.signal : AbortSignal.any([signal, timer.signal]);
  try {
    // Raced as well: a wait that does not listen to the signal (a shared discovery) ends with it all the same.
    return await new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(bounded.reason);
      bounded.addEventListener('abort', onAbort, { once: true });
      if (bounded.aborted) onAbort();
      work(bounded).then(resolve, reject).finally(() => bounded.removeEventListener('abort', onAbort));
    });
  } catch (error) {
    throw toSessionError(timer.signal.aborted && !signal?.aborted ? timer.signal.reason : error, label, signal);
  } finally {
    clearTimeout(timeoutId);
  }
}

/** oauth4webapi's options for one request: our fetch and signal; insecure requests only for a loopback issuer. */
export function requestOptions(endpoint: Endpoint, onResponse?: (response: Response) => void): oauth.HttpRequestOptions<'GET' | 'POST', unknown> {
  const url = issuerUrl(endpoint.issuer);
  return {
    ...(endpoint.signal !== undefined && { signal: endpoint.signal }),
    [oauth.customFetch]: async (input, init) => {
      const response = await endpoint.fetch(input, init as RequestInit);
      onResponse?.(response);
      return response;
    },
    // oauth4webapi marks it deprecated (a production app must not use http:); allowed for loopback hosts only.
    ...(url.protocol === 'http:' && { [oauth.allowInsecureRequests]: true }),
  };
}

// One discovery per issuer and JavaScript context, shared by every session: while it runs, and once it succeeded.
// A failed or timed-out one is dropped at once, so the next call asks again.
const discoveries = new Map<string, Promise<oauth.AuthorizationServer>>();

/**
 * The provider's metadata (`/.well-known/openid-configuration`), its `issuer` checked against ours (oauth4webapi), and
 * refused without PKCE S256 (a sign-in without it could be hijacked through a stolen code) or with an endpoint that
 * is not `https:` (a `javascript:` one would run in the app's origin when navigated to): we fail closed. Every caller
 * waits at most its `timeout`; the shared request itself is bounded by the first caller's.
 */
export function discover(endpoint: Endpoint): Promise<oauth.AuthorizationServer> {
  const label = 'The provider metadata';
  const timeout = endpoint.timeout ?? DEFAULT_TIMEOUT;
  let found = discoveries.get(endpoint.issuer);
  if (found === undefined) {
    // Not the caller's signal: a caller that gives up must not fail the others that share the request.
    const started = withTimeout(label, timeout, undefined, (signal) => readMetadata({ ...endpoint, signal }));
    discoveries.set(endpoint.issuer, started);
    started.catch(() => {
      if (discoveries.get(endpoint.issuer) === started) discoveries.delete(endpoint.issuer);
    });
    found = started;
  }
  const shared = found;
  return withTimeout(label, timeout, endpoint.signal, () => shared);
}

async function readMetadata(endpoint: Endpoint): Promise<oauth.AuthorizationServer> {
  const url = issuerUrl(endpoint.issuer);
  const response = await oauth.discoveryRequest(url, requestOptions(endpoint));
  // A 5xx or 429 says the provider is down or busy, not that its metadata is wrong: the app may try again later.
  const failure = statusFailure(response, 'The provider metadata', Date.now());
  if (failure !== undefined) throw failure;
  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(url, response);
  } catch (error) {
    // oauth4webapi's own errors say what was wrong; anything else (an `issuer` that is no URL) is a garbled answer.
    if (error instanceof oauth.OperationProcessingError || error instanceof oauth.ResponseBodyError || error instanceof oauth.UnsupportedOperationError) throw error;
    throw new SessionError('invalid_response', 'The provider metadata is malformed');
  }
  if (!as.code_challenge_methods_supported?.includes('S256')) {
    throw new SessionError('unsupported_provider', 'The provider does not advertise PKCE with S256 (code_challenge_methods_supported)');
  }
  if (as.authorization_endpoint === undefined || as.token_endpoint === undefined) {
    throw new SessionError('unsupported_provider', 'The provider has no authorization or token endpoint');
  }
  for (const [name, value] of Object.entries(as)) {
    if (!(name.endsWith('_endpoint') || name === 'jwks_uri') || value === undefined) continue;
    const endpointUrl = typeof value === 'string' ? parseUrl(value) : undefined;
    if (endpointUrl === undefined || !isAllowedUrl(endpointUrl, url)) {
      throw new SessionError('unsupported_provider', `The provider's ${name} is not an https: URL (http: only on a loopback issuer)`);
    }
  }
  return as;
}

/** The errors a provider may send back to the redirect URI that have codes of their own (OpenID Connect Core §3.1.2.6). */
const CALLBACK_ERRORS: ReadonlySet<string> = new Set<ErrorCode>([
  'access_denied',
  'login_required',
  'interaction_required',
  'temporarily_unavailable',
]);

/**
 * oauth4webapi's failures (and fetch's) as SessionErrors. Messages are ours or oauth4webapi's fixed texts; its
 * `cause` is left out, because it may hold the authorization code, the response body or its tokens.
 */
export function toSessionError(error: unknown, context: string, signal?: AbortSignal): SessionError {
  if (isSessionError(error)) return error;
  if (signal?.aborted) return abortError(signal);
  if (error instanceof oauth.AuthorizationResponseError) {
    const code: ErrorCode = CALLBACK_ERRORS.has(error.error) ? (error.error as ErrorCode) : codeForOAuthError(error.error);
    return new SessionError(code, `The provider refused the sign-in: ${error.error}`, {
      oauthError: error.error,
      oauthErrorDescription: error.error_description,
    });
  }
  if (error instanceof oauth.ResponseBodyError) {
    const { status } = error;
    return new SessionError(codeForOAuthError(error.error), `${context}: ${error.error} (${status})`, {
      status,
      oauthError: error.error,
      oauthErrorDescription: error.error_description,
    });
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return new SessionError('invalid_client', `${context}: the client was not authenticated (${error.status})`, { status: error.status });
  }
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    return new SessionError('invalid_response', `${context}: ${error.message}`);
  }
  if (error instanceof DOMException && error.name === 'TimeoutError') return new SessionError('timeout', `${context}: no answer in time`);
  // oauth4webapi's own argument checks (`ERR_INVALID_ARG_TYPE`…): a setting it cannot use, not a network failure.
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_')) {
    return new SessionError('invalid_options', `${context}: ${error.message}`);
  }
  // fetch rejects with a TypeError when the server cannot be reached.
  return new SessionError('endpoint_unavailable', `${context}: the provider could not be reached`, { cause: error });
}

/**
 * `error` without any of `secrets` in what the provider wrote into it (`error`, `error_description`, and so the
 * message): a provider may echo the refresh token, code or verifier it was sent, and errors are logged.
 */
export function withoutSecrets(error: SessionError, secrets: readonly (string | undefined)[]): SessionError {
  const cut = (text: string | undefined): string | undefined => {
    let out = text;
    for (const secret of secrets) if (out !== undefined && secret) out = out.split(secret).join('[redacted]');
    return out;
  };
  const { code, message, oauthError, oauthErrorDescription, status, retryAfter } = error;
  if (cut(message) === message && cut(oauthError) === oauthError && cut(oauthErrorDescription) === oauthErrorDescription) return error;
  return new SessionError(code, cut(message)!, { oauthError: cut(oauthError), oauthErrorDescription: cut(oauthErrorDescription), status, retryAfter });
}

/**
 * A failure the HTTP status tells before oauth4webapi reads the body: 429 and 5xx, with `Retry-After` (the session
 * remembers it, so no context asks again before then).
 */
export function statusFailure(response: Response | undefined, context: string, now: number): SessionError | undefined {
  if (response === undefined) return undefined;
  const { status } = response;
  if (status !== 429 && status < 500) return undefined;
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'), now);
  const code: ErrorCode = status === 429 ? 'rate_limited' : 'endpoint_unavailable';
  return new SessionError(code, `${context}: the provider answered ${status}`, { status, retryAfter });
}
