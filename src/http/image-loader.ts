import { fetchWithToken } from './fetch-with-token.js';
import { isSessionError, SessionError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import { compileMatch, type UrlMatch, type UrlMatcher } from './url-match.js';

/**
 * A map helper's optional `match`, compiled once; `undefined` (no `match`) keeps the token on every URL the layer
 * loads, as the helpers did before they took one.
 */
export function compileTokenMatch(match: UrlMatch | undefined): UrlMatcher | undefined {
  return match === undefined ? undefined : compileMatch(match);
}

/** Whether `src` gets the token: any URL without a `match`, else only the http(s) URLs it names. */
export function wantsToken(matches: UrlMatcher | undefined, src: string): boolean {
  if (matches === undefined) return true;
  try {
    return matches(new URL(src, globalThis.location?.href));
  } catch {
    return false;
  }
}

/**
 * Fetches `src` with the session's token (401 refresh-once rule included) and shows it in `image` through an object
 * URL, which is released once the image has loaded or failed. Rejects on a non-2xx answer, without touching `image`.
 * Signed out (`login_required`), it sets `src` itself: no token, no rejection.
 * Map libraries then see an ordinary image load, as if they had set `src` themselves.
 */
export async function loadImageWithToken(
  session: Session,
  image: HTMLImageElement,
  src: string,
  signal?: AbortSignal,
): Promise<void> {
  let response: Response;
  try {
    response = await fetchWithToken(session, new Request(src, signal === undefined ? {} : { signal }));
  } catch (error) {
    if (!isSessionError(error, 'login_required')) throw error;
    // Signed out: the image loads as without the helper, with no token (an open layer shows; a protected one fails
    // like a broken image, and is loaded again after a sign-in: see the map helpers).
    image.src = src;
    return;
  }
  if (!response.ok) {
    void response.body?.cancel().catch(() => undefined);
    throw new SessionError('request_failed', `The image request failed (HTTP ${response.status})`, {
      status: response.status,
      response,
    });
  }
  const blob = await response.blob();
  // Not wanted any more (the map removed the tile): its image is not shown.
  signal?.throwIfAborted();
  const objectUrl = URL.createObjectURL(blob);
  const release = (): void => URL.revokeObjectURL(objectUrl);
  image.addEventListener('load', release, { once: true });
  image.addEventListener('error', release, { once: true });
  image.src = objectUrl;
}
