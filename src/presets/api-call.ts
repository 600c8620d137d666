import * as z from 'zod/mini';
import { parseRetryAfter } from '../core/delay.js';
import type { ClientOptions } from '../client.js';
import { isSessionError, SessionError, type Session } from '../index.js';

// Google APIs: {error: {code: 403, message, status: 'PERMISSION_DENIED'}}.
// Sentinel Hub: {error: {status: 400, reason: 'Bad Request', message, code: 'RENDERER_EXCEPTION'}}.
// `z.custom` with the test of `z.union([z.string(), z.number()])`: zod's union code is not paid for two `typeof`s.
const stringOrNumber = z.custom<string | number>(
  (value) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)),
);
const apiErrorBodySchema = z.looseObject({
  error: z.looseObject({
    status: z.optional(stringOrNumber),
    code: z.optional(stringOrNumber),
    message: z.optional(z.string()),
  }),
});

// Long enough for any real API message; short enough that an echoed request body cannot flood logs.
const MAX_MESSAGE = 500;

/**
 * The hold of a session handed out by a session pool (`shared-session/pool`, src/server/pool.ts names the same
 * symbol): `session[HOLD]()` keeps it out of eviction until the returned function is called. Presets must not import
 * server code, and a symbol from `Symbol.for` is the same in every bundle.
 */
export const HOLD = Symbol.for('shared-session.pool.hold');

/**
 * Runs `call` with `session` kept out of its pool's eviction and idle expiry for the whole call (token, request,
 * the 401 retry), when it comes from a pool; other sessions just run it.
 */
export function withSessionHeld<T>(session: Session, call: () => Promise<T>): Promise<T> {
  const hold = (session as { [HOLD]?: unknown })[HOLD];
  if (typeof hold !== 'function') return call();
  const release = (hold as () => () => void).call(session);
  let result: Promise<T>;
  try {
    result = call();
  } catch (error) {
    release();
    throw error;
  }
  return result.finally(release);
}

/**
 * Runs one API call made with a `createClient` instance and turns whatever it throws into a `SessionError`, so a
 * preset has one error model: `api_error` (the service's status and message), `timeout`, `aborted`,
 * `endpoint_unavailable`; session errors (`token_rejected`, …) pass through. No cause that carries the request is
 * kept: ky's errors hold the request, and with it the `Authorization` header.
 */
export async function apiCall<T>(service: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw await toSessionError(service, error);
  }
}

async function toSessionError(service: string, error: unknown): Promise<unknown> {
  if (isSessionError(error)) return error;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'HTTPError') return fromResponse(service, (error as { response: Response }).response);
  if (name === 'TimeoutError') return new SessionError('timeout', `${service} did not answer in time`);
  if (name === 'AbortError') return new SessionError('aborted', `The ${service} call was aborted`);
  if (error instanceof TypeError) {
    return new SessionError('endpoint_unavailable', `${service} could not be reached`, { cause: error });
  }
  return error;
}

/** The `api_error` for a failed response: Google's and Sentinel Hub's JSON error bodies are read; others give the status. */
export async function fromResponse(service: string, response: Response): Promise<SessionError> {
  const { status } = response;
  const text = await response.text().catch(() => '');
  let parsed: z.infer<typeof apiErrorBodySchema> | undefined;
  try {
    const result = apiErrorBodySchema.safeParse(JSON.parse(text));
    if (result.success) parsed = result.data;
  } catch {
    // Not JSON (an HTML error page, a proxy's text): the status is all we have.
  }
  const body = parsed?.error;
  const apiStatus = typeof body?.status === 'string' ? body.status : typeof body?.code === 'string' ? body.code : undefined;
  const apiMessage = body?.message === undefined ? undefined : body.message.slice(0, MAX_MESSAGE);
  const what = apiStatus === undefined ? `${status}` : `${apiStatus} (${status})`;
  return new SessionError('api_error', `${service} refused the request: ${what}${apiMessage ? `: ${apiMessage}` : ''}`, {
    status,
    apiStatus,
    apiMessage,
    retryAfter: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
  });
}

/** Parses a 2xx JSON body with `schema`; anything else is `invalid_response` naming the first bad field. */
export function parseBody<S extends z.ZodMiniType>(service: string, text: string, schema: S): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SessionError('invalid_response', `${service} answered with a body that is not JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'the body' : issue.path.join('.');
    throw new SessionError('invalid_response', `${service} answered with an unexpected body (${where})`, {
      cause: result.error.issues.map((item) => `${item.path.join('.')}: ${item.code}`),
    });
  }
  return result.data;
}

/** ky's default retry methods, and POST (see `retryPostOn429`). */
const RETRIED_METHODS = ['get', 'put', 'head', 'delete', 'options', 'trace', 'post'];

/**
 * Client options under which a POST is retried on 429, and on nothing else: a 429 was not processed, so resending it
 * is safe (Sentinel Hub's and Earth Engine's own clients do it), while after a network error or a 5xx the request
 * may have run, and cost. `fetch` makes a POST's network error final (a `SessionError` is never retried by the
 * client); `shouldRetry` refuses the other statuses. The caller's own `retry` options apply on top.
 */
export function retryPostOn429(
  options: ClientOptions | undefined,
  fetch: typeof globalThis.fetch | undefined,
  service: string,
): ClientOptions {
  const { retry, ...rest } = options ?? {};
  const retryOptions = typeof retry === 'number' ? { limit: retry } : retry;
  return {
    ...rest,
    fetch: async (input, init) => {
      const post = (input instanceof Request ? input.method : (init?.method ?? 'GET')).toUpperCase() === 'POST';
      try {
        return await (fetch ?? globalThis.fetch)(input, init);
      } catch (error) {
        if (!post || (error as { name?: unknown } | null)?.name === 'AbortError') throw error;
        throw new SessionError('endpoint_unavailable', `${service} could not be reached`, { cause: error });
      }
    },
    retry: {
      methods: RETRIED_METHODS,
      ...retryOptions,
      shouldRetry: (state) => {
        const { request, response } = state.error as { request?: Request; response?: Response };
        if (request?.method === 'POST' && response !== undefined && response.status !== 429) return false;
        return retryOptions?.shouldRetry?.(state);
      },
    },
  };
}
