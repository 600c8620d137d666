import { fetchWithToken } from './fetch-with-token.js';
import { SessionError } from '../core/errors.js';
import type { Session } from '../core/session.js';

/**
 * Fetches `src` with the session's token (401 refresh-once rule included) and shows it in `image` through an object
 * URL, which is released once the image has loaded or failed. Rejects on a non-2xx answer, without touching `image`.
 * Map libraries then see an ordinary image load, as if they had set `src` themselves.
 */
export async function loadImageWithToken(
  session: Session,
  image: HTMLImageElement,
  src: string,
  signal?: AbortSignal,
): Promise<void> {
  const response = await fetchWithToken(session, new Request(src, signal === undefined ? {} : { signal }));
  if (!response.ok) {
    void response.body?.cancel().catch(() => undefined);
    throw new SessionError('request_failed', `The image request failed (HTTP ${response.status})`, {
      status: response.status,
      response,
    });
  }
  const objectUrl = URL.createObjectURL(await response.blob());
  const release = (): void => URL.revokeObjectURL(objectUrl);
  image.addEventListener('load', release, { once: true });
  image.addEventListener('error', release, { once: true });
  image.src = objectUrl;
}
