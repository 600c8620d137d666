import { abortError, codeForOAuthError, SessionError } from '../core/errors.js';
import { delay, parseRetryAfter } from '../core/delay.js';
import { oauthErrorSchema, tokenResponseSchema } from '../core/schemas.js';
import type { TokenSet } from '../core/token.js';
import type { FetchTokenContext } from './provider.js';

/** How a provider talks to a token endpoint. Every field is optional; defaults are given per field. */
export interface TokenRequestOptions {
  /** Attempts in total, the first included, for network errors, timeouts, 5xx and 429. Default 4. */
  readonly attempts?: number | undefined;
  /** Base of the exponential backoff between attempts (ms), with jitter. Default 250. */
  readonly backoff?: number | undefined;
  /** Longest wait between attempts (ms). A longer `Retry-After` fails at once with `rate_limited`. Default 30 000. */
  readonly maxDelay?: number | undefined;
  /** Timeout of one attempt (ms). Default 10 000. */
  readonly timeout?: number | undefined;
  /** `expires_in` (s) assumed when the server omits it. Default 3600, the usual lifetime of these APIs. */
  readonly defaultExpiresIn?: number | undefined;
}

export type Settings = { readonly [K in keyof TokenRequestOptions]-?: number };

function resolve(options: TokenRequestOptions): Settings {
  return {
    attempts: options.attempts ?? 4,
    backoff: options.backoff ?? 250,
    maxDelay: options.maxDelay ?? 30_000,
    timeout: options.timeout ?? 10_000,
    defaultExpiresIn: options.defaultExpiresIn ?? 3600,
  };
}

/** How often and how long one request is tried. */
export interface RetryPolicy {
  /** Attempts in total, the first included. */
  readonly attempts: number;
  /** Base of the exponential backoff between attempts (ms), with jitter. */
  readonly backoff: number;
  /** Longest wait between attempts (ms); a longer `Retry-After` fails at once. */
  readonly maxDelay: number;
  /** Timeout of one attempt (ms). */
  readonly timeout: number;
}

/**
 * Sends one request until it gets a final answer: network errors, timeouts, 429 and 5xx are tried again (up to
 * `policy.attempts`, with exponential backoff and jitter, honouring `Retry-After`); any other response goes to `read`,
 * which returns the result or throws. `server` names the other side in error messages, which never quote the request
 * (it holds secrets) or the body (it may hold tokens).
 */
export async function sendWithRetries<T>(
  server: string,
  url: string,
  init: RequestInit,
  context: FetchTokenContext,
  policy: RetryPolicy,
  read: (response: Response, text: string, sentAt: number) => T,
  prepare?: (init: RequestInit) => Promise<RequestInit>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    // Each attempt its own headers (a DPoP proof is for one attempt), made outside the attempt's error handling: a
    // key that cannot sign is a configuration mistake, not an outage to retry.
    const attemptInit = prepare === undefined ? init : await prepare(init);
    const outcome = await sendOnce(server, url, attemptInit, context, policy.timeout, read);
    if ('value' in outcome) return outcome.value;
    const { retry } = outcome;
    const wait = outcome.wait ?? jittered(policy.backoff * 2 ** (attempt - 1));
    if (attempt >= policy.attempts || wait > policy.maxDelay) throw withBackoff(retry, wait);
    await delay(wait, context.signal);
  }
}

/**
 * The final failure of a retry chain, saying how long to wait before the next one: the server's `Retry-After`, or
 * the back-off the chain would have waited next. The session remembers it, so that nobody (in this context or any
 * that shares it) calls a rate-limiting or failing endpoint again before then.
 */
function withBackoff(error: SessionError, wait: number): SessionError {
  if (error.retryAfter !== undefined) return error;
  const { code, message, status } = error;
  return new SessionError(code, message, { status, retryAfter: Math.round(wait), cause: error.cause });
}

/**
 * POSTs a form to a token endpoint and returns the validated token set (see `sendWithRetries`). `answered` is called
 * when a 2xx answer arrives, before it is read: what was sent is spent then, whatever the answer says.
 */
export function requestToken(
  url: string,
  form: URLSearchParams,
  headers: Record<string, string>,
  context: FetchTokenContext,
  options: TokenRequestOptions = {},
  answered?: () => void,
): Promise<TokenSet> {
  const settings = resolve(options);
  const init: RequestInit = {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: form.toString(),
  };
  // Spent as soon as a 2xx status arrives, before its body: a body that stalls past the attempt timeout (or a process
  // stopped while the answer sat in its socket) must not leave the sent refresh token looking unspent.
  const noting: FetchTokenContext = answered === undefined ? context : {
    ...context,
    fetch: async (input, requestInit) => {
      const response = await context.fetch(input, requestInit);
      if (response.ok) answered();
      return response;
    },
  };
  const { dpop } = context;
  if (dpop === undefined) {
    return sendWithRetries('The token endpoint', url, init, noting, settings, (response, text, sentAt) => {
      if (response.ok) {
        answered?.();
        return refuseUnprovedDPoP(parseTokenResponse(text, sentAt, settings.defaultExpiresIn, response.status));
      }
      throw oauthFailure(text, response.status);
    });
  }
  // The DPoP code (proofs, nonce challenges) is loaded only by sessions created with `dpop`.
  return dpop.requestToken(url, init, noting, settings, answered);
}

/**
 * A request without a DPoP proof must not get a `DPoP` token (RFC 9449 §5): no request of this session could use
 * it. (With a proof, `src/dpop/token-request.ts` checks the other way round.) Exported for the sign-in, which reads
 * token answers with oauth4webapi.
 */
export function refuseUnprovedDPoP(set: TokenSet): TokenSet {
  if (set.token.tokenType === 'DPoP') {
    throw new SessionError('invalid_response', 'The token endpoint issued a DPoP-bound token, but no DPoP proof was sent (set the dpop option)');
  }
  return set;
}

function jittered(ms: number): number {
  return ms / 2 + (Math.random() * ms) / 2;
}

type Outcome<T> = { value: T } | { retry: SessionError; wait?: number | undefined };

async function sendOnce<T>(
  server: string,
  url: string,
  init: RequestInit,
  context: FetchTokenContext,
  timeout: number,
  read: (response: Response, text: string, sentAt: number) => T,
): Promise<Outcome<T>> {
  const { signal, clock } = context;
  if (signal.aborted) throw abortError(signal);
  const sentAt = clock.now();
  // The attempt's timeout is a timer we hold, not `AbortSignal.timeout`: Node 20's `AbortSignal.any` keeps only a weak
  // reference to its inputs, so a collected timeout signal would never fire and the attempt would hang for ever.
  const timer = new AbortController();
  const timeoutId = setTimeout(() => timer.abort(new DOMException(`${server} did not answer in time`, 'TimeoutError')), timeout);
  try {
    let response: Response;
    try {
      response = await context.fetch(url, { ...init, signal: AbortSignal.any([signal, timer.signal]) });
    } catch (error) {
      if (signal.aborted) throw abortError(signal);
      const timedOut = timer.signal.aborted;
      return {
        retry: new SessionError(
          timedOut ? 'timeout' : 'endpoint_unavailable',
          timedOut ? `${server} did not answer in time` : `${server} could not be reached`,
          { cause: error },
        ),
      };
    }
    const { status } = response;
    const text = await readBody(response, signal, timer.signal, server);
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'), clock.now());
    if (status === 429) {
      const retry = new SessionError('rate_limited', `${server} is rate limiting this client (429)`, { status, retryAfter });
      return { retry, wait: retryAfter };
    }
    if (status >= 500) {
      return { retry: new SessionError('endpoint_unavailable', `${server} failed (${status})`, { status, retryAfter }), wait: retryAfter };
    }
    return { value: read(response, text, sentAt) };
  } finally {
    clearTimeout(timeoutId);
  }
}

async function readBody(response: Response, signal: AbortSignal, timeout: AbortSignal, server: string): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (signal.aborted) throw abortError(signal);
    if (timeout.aborted) throw new SessionError('timeout', `${server} did not answer in time`, { status: response.status });
    throw new SessionError('invalid_response', 'The response could not be read', {
      status: response.status,
      cause: error,
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The longest lifetime (s) a token response is taken at: a year. A larger `expires_in` (`1e306` is finite, but
 * `1e306 * 1000` ms is not) is read as this, so that `expiresAt` stays a finite number that every transport's schema
 * accepts; the token is merely replaced sooner than the server said, which is always safe.
 */
export const MAX_EXPIRES_IN = 365 * 86_400;

/** Validates a 2xx token response body. `sentAt` anchors `expiresAt`, so network latency shortens, never extends, it. */
export function parseTokenResponse(text: string, sentAt: number, defaultExpiresIn: number, status = 200): TokenSet {
  return tokenSetFromBody(parseJson(text), sentAt, defaultExpiresIn, status);
}

/** `parseTokenResponse` for a body already parsed (by oauth4webapi, for `shared-session/oidc`). */
export function tokenSetFromBody(body: unknown, sentAt: number, defaultExpiresIn: number, status = 200): TokenSet {
  const parsed = tokenResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new SessionError('invalid_response', 'The token endpoint returned a malformed token response', {
      status,
      cause: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.code}`),
    });
  }
  const { data } = parsed;
  const expiresIn = data.expires_in === undefined || data.expires_in === '' ? defaultExpiresIn : Number(data.expires_in);
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new SessionError('invalid_response', 'The token response has an invalid expires_in', { status });
  }
  const tokenType =
    data.token_type === undefined || /^bearer$/i.test(data.token_type) ? 'Bearer' : /^dpop$/i.test(data.token_type) ? 'DPoP' : data.token_type;
  return {
    token: {
      accessToken: data.access_token,
      tokenType,
      issuedAt: sentAt,
      expiresAt: sentAt + Math.min(expiresIn, MAX_EXPIRES_IN) * 1000,
      ...(data.scope === undefined ? {} : { scope: data.scope }),
    },
    ...(data.refresh_token === undefined ? {} : { refreshToken: data.refresh_token }),
  };
}

export function oauthFailure(text: string, status: number): SessionError {
  const parsed = oauthErrorSchema.safeParse(parseJson(text));
  if (parsed.success) {
    const { error, error_description: description } = parsed.data;
    return new SessionError(codeForOAuthError(error), `The token endpoint refused the request: ${error} (${status})`, {
      status,
      oauthError: error,
      oauthErrorDescription: description,
    });
  }
  // No OAuth body: 401 means the client was not authenticated; any other 4xx is a plain failure.
  const code = status === 401 ? 'invalid_client' : 'request_failed';
  return new SessionError(code, `The token endpoint refused the request (${status})`, { status });
}

