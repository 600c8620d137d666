import { abortError } from './errors.js';

/** Resolves after `ms`, or rejects with an `aborted` SessionError as soon as `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The longest `Retry-After` we represent (ms): a longer or infinite one (`1e309`) means "not in this session". */
export const MAX_RETRY_AFTER = 86_400_000;

/**
 * Parses `Retry-After` (delta-seconds or an HTTP date) into ms from `now`, at most `MAX_RETRY_AFTER` (so an infinite
 * value fails at once against any ceiling instead of being waited out); undefined when absent or invalid (garbage
 * such as `soon` is ignored: the caller's normal back-off applies).
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (!Number.isNaN(seconds)) return seconds >= 0 ? Math.min(seconds * 1000, MAX_RETRY_AFTER) : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(0, date - now), MAX_RETRY_AFTER);
}
