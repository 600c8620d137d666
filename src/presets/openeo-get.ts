import { SessionError } from '../index.js';
import { SERVICE } from './openeo-errors.js';

/** A discovery request waits this long at most (openEO's JavaScript client waits 5 s for the well-known document). */
const DISCOVERY_TIMEOUT = 10_000;

/** A GET without credentials (discovery, capabilities), bounded by `DISCOVERY_TIMEOUT`; failures as typed errors. */
export async function boundedGet(fetch: typeof globalThis.fetch, url: string, signal: AbortSignal | undefined): Promise<Response> {
  const aborted = (): boolean => signal?.aborted === true;
  if (aborted()) throw new SessionError('aborted', `${SERVICE} discovery was aborted`, { cause: signal?.reason });
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), DISCOVERY_TIMEOUT);
  const abort = (): void => timer.abort();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const response = await fetch(url, { headers: { accept: 'application/json' }, signal: timer.signal });
    // The body is read by the caller; a stalled body is bounded by the same timer.
    return new Response(await response.text(), { status: response.status, headers: response.headers });
  } catch (error) {
    if (aborted()) throw new SessionError('aborted', `${SERVICE} discovery was aborted`, { cause: signal?.reason });
    const timedOut = timer.signal.aborted;
    const path = new URL(url).pathname;
    throw new SessionError(timedOut ? 'timeout' : 'endpoint_unavailable', `${SERVICE} ${timedOut ? 'did not answer' : 'could not be reached'} for ${path}`, { cause: error });
  } finally {
    clearTimeout(timeout);
    signal?.removeEventListener('abort', abort);
  }
}
