import { abortError, codeForOAuthError, SessionError } from '../errors.js';
import { delay, parseRetryAfter } from '../delay.js';
import { oauthErrorSchema, tokenResponseSchema } from '../schemas.js';
import type { TokenSet } from '../token.js';
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

type Settings = { readonly [K in keyof TokenRequestOptions]-?: number };

function resolve(options: TokenRequestOptions): Settings {
  return {
    attempts: options.attempts ?? 4,
    backoff: options.backoff ?? 250,
    maxDelay: options.maxDelay ?? 30_000,
    timeout: options.timeout ?? 10_000,
    defaultExpiresIn: options.defaultExpiresIn ?? 3600,
  };
}

type Outcome = { set: TokenSet } | { retry: SessionError; wait?: number | undefined };

/**
 * POSTs a form to a token endpoint and returns the validated token set. Retries transient failures with
 * exponential backoff and jitter; honours `Retry-After`; never retries 4xx other than 429.
 * The form and headers (which hold secrets) never reach an error message.
 */
export async function requestToken(
  url: string,
  form: URLSearchParams,
  headers: Record<string, string>,
  context: FetchTokenContext,
  options: TokenRequestOptions = {},
): Promise<TokenSet> {
  const settings = resolve(options);
  for (let attempt = 1; ; attempt++) {
    const outcome = await attemptOnce(url, form, headers, context, settings);
    if ('set' in outcome) return outcome.set;
    const { retry } = outcome;
    const wait = outcome.wait ?? jittered(settings.backoff * 2 ** (attempt - 1));
    if (attempt >= settings.attempts || wait > settings.maxDelay) throw retry;
    await delay(wait, context.signal);
  }
}

function jittered(ms: number): number {
  return ms / 2 + (Math.random() * ms) / 2;
}

async function attemptOnce(
  url: string,
  form: URLSearchParams,
  headers: Record<string, string>,
  context: FetchTokenContext,
  settings: Settings,
): Promise<Outcome> {
  const { signal, clock } = context;
  if (signal.aborted) throw abortError(signal);
  const sentAt = clock.now();
  let response: Response;
  try {
    response = await context.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
      body: form.toString(),
      signal: AbortSignal.any([signal, AbortSignal.timeout(settings.timeout)]),
    });
  } catch (error) {
    if (signal.aborted) throw abortError(signal);
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    return {
      retry: new SessionError(
        timedOut ? 'timeout' : 'endpoint_unavailable',
        timedOut ? 'The token endpoint did not answer in time' : 'The token endpoint could not be reached',
        { cause: error },
      ),
    };
  }
  const { status } = response;
  const text = await readBody(response, signal);
  if (response.ok) return { set: parseTokenResponse(text, sentAt, settings.defaultExpiresIn, status) };

  const retryAfter = parseRetryAfter(response.headers.get('retry-after'), clock.now());
  if (status === 429) {
    return {
      retry: new SessionError('rate_limited', 'The token endpoint is rate limiting this client (429)', {
        status,
        retryAfter,
      }),
      wait: retryAfter,
    };
  }
  if (status >= 500) {
    return {
      retry: new SessionError('endpoint_unavailable', `The token endpoint failed (${status})`, { status, retryAfter }),
      wait: retryAfter,
    };
  }
  throw oauthFailure(text, status);
}

async function readBody(response: Response, signal: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (signal.aborted) throw abortError(signal);
    throw new SessionError('invalid_response', 'The token response could not be read', {
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

/** Validates a 2xx token response body. `sentAt` anchors `expiresAt`, so network latency shortens, never extends, it. */
export function parseTokenResponse(text: string, sentAt: number, defaultExpiresIn: number, status = 200): TokenSet {
  const parsed = tokenResponseSchema.safeParse(parseJson(text));
  if (!parsed.success) {
    throw new SessionError('invalid_response', 'The token endpoint returned a malformed token response', {
      status,
      cause: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.code}`),
    });
  }
  const body = parsed.data;
  const expiresIn = body.expires_in === undefined || body.expires_in === '' ? defaultExpiresIn : Number(body.expires_in);
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new SessionError('invalid_response', 'The token response has an invalid expires_in', { status });
  }
  const tokenType = body.token_type === undefined || /^bearer$/i.test(body.token_type) ? 'Bearer' : body.token_type;
  return {
    token: {
      accessToken: body.access_token,
      tokenType,
      issuedAt: sentAt,
      expiresAt: sentAt + expiresIn * 1000,
      ...(body.scope === undefined ? {} : { scope: body.scope }),
    },
    ...(body.refresh_token === undefined ? {} : { refreshToken: body.refresh_token }),
  };
}

function oauthFailure(text: string, status: number): SessionError {
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

