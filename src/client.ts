import ky, { type KyInstance, type KyRequest, type Options } from 'ky';
import { parseRetryAfter } from './delay.js';
import { isSessionError, SessionError } from './errors.js';
import type { Session } from './session.js';

/** Options of `createClient`: ky's own, plus the ceiling on how long a `Retry-After` may make us wait. */
export interface ClientOptions extends Options {
  /**
   * Longest `Retry-After` (ms) honoured on 429/503 before retrying; a longer one fails at once instead of hammering a
   * rate-limited API early. Default 60 000.
   */
  readonly maxRetryAfter?: number | undefined;
}

// Marks, in ky's per-request context, a request that has already been retried after a 401.
const RETRIED_AFTER_401 = 'sharedSession.retriedAfter401';

/**
 * A ky instance that sends the session's token with every attempt.
 *
 * - `Authorization: <tokenType> <accessToken>` is set just before each attempt (first try and every retry), from
 *   `session.getToken()`, so a token is never sent stale.
 * - A 401 reports that exact token as rejected: the session drops it everywhere and refreshes once, however many
 *   requests saw it, and the request is retried once with the new token. A second 401 rejects with a
 *   `SessionError` of code `token_rejected` (no loop).
 * - 429/503 with `Retry-After` are retried after that delay, up to `maxRetryAfter`.
 * - Timeouts and `signal` pass through to ky.
 */
export function createClient(session: Session, options: ClientOptions = {}): KyInstance {
  const { maxRetryAfter = 60_000, retry, hooks, ...kyOptions } = options;
  const retryOptions = typeof retry === 'number' ? { limit: retry } : (retry ?? {});

  const authorize = async (request: KyRequest): Promise<void> => {
    const token = await session.getToken({ signal: request.signal });
    request.headers.set('authorization', `${token.tokenType} ${token.accessToken}`);
  };

  return ky.create({
    ...kyOptions,
    retry: {
      ...retryOptions,
      // At least one retry, so that the 401 refresh-and-retry can happen; ky counts it against the limit.
      limit: Math.max(1, retryOptions.limit ?? 2),
      maxRetryAfter,
      shouldRetry: async (state) => {
        // Our own verdict (a second 401) is final.
        if (isSessionError(state.error)) return false;
        const userDecision = await retryOptions.shouldRetry?.(state);
        if (userDecision !== undefined) return userDecision;
        const response = (state.error as { response?: Response }).response;
        const wait = response === undefined ? undefined : parseRetryAfter(response.headers.get('retry-after'), Date.now());
        // A server that asks for more patience than we allow: fail now rather than retry early.
        return wait !== undefined && wait > maxRetryAfter ? false : undefined;
      },
    },
    hooks: {
      ...hooks,
      beforeRequest: [async (request) => authorize(request), ...(hooks?.beforeRequest ?? [])],
      beforeRetry: [async ({ request }) => authorize(request), ...(hooks?.beforeRetry ?? [])],
      afterResponse: [
        async (request, hookOptions, response) => {
          if (response.status !== 401) return undefined;
          const sent = presentedToken(request.headers.get('authorization'));
          if (hookOptions.context[RETRIED_AFTER_401] === true) {
            throw new SessionError('token_rejected', 'The API rejected a freshly refreshed token (401)', { status: 401 });
          }
          hookOptions.context[RETRIED_AFTER_401] = true;
          // One refresh for every request that saw this token, in every context that shares the session.
          await session.getToken({ rejected: sent, signal: request.signal });
          return ky.retry({ code: 'TOKEN_REJECTED', delay: 0 });
        },
        ...(hooks?.afterResponse ?? []),
      ],
    },
  });
}

function presentedToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  const space = header.indexOf(' ');
  return space === -1 ? undefined : header.slice(space + 1);
}
