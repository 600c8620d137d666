/**
 * The only place where the demo attaches the session's token to tile requests.
 *
 * These two functions stand in for the library's own helpers, with the same shapes, until those are merged:
 * `maplibreTransformRequest` from `shared-session/maplibre` and `handleAuthFetch` from `shared-session/service-worker`.
 * Swapping them in is a change of import.
 */
import type { RequestParameters, RequestTransformFunction } from 'maplibre-gl';
import type { Session, Token } from 'shared-session';

// Within this margin of expiry a kept token is not used any more: the request waits for `getToken` instead.
const EXPIRY_MARGIN = 5_000;

const authorize = (url: string, token: Token): RequestParameters => ({
  url,
  headers: { Authorization: `${token.tokenType} ${token.accessToken}` },
});

/**
 * A MapLibre `transformRequest` that adds `Authorization` to the requests `match` accepts. The token is kept in
 * memory and replaced on every `token` event (so a tile costs no await); when there is none, or it is about to
 * expire, the request waits for `session.getToken()` (MapLibre 5+ accepts a promise).
 */
export function maplibreTransformRequest(session: Session, match: (url: string) => boolean): RequestTransformFunction {
  let kept: Token | undefined;
  session.on('token', (token) => (kept = token));
  session.on('cleared', () => (kept = undefined));
  return (url) => {
    if (!match(url)) return undefined;
    if (kept !== undefined && kept.expiresAt - Date.now() > EXPIRY_MARGIN) return authorize(url, kept);
    return session.getToken().then((token) => authorize(url, token));
  };
}

/** What a service worker's `fetch` event offers (the DOM library has no service worker types). */
export interface AuthFetchEvent extends Event {
  readonly request: Request;
  respondWith(response: Promise<Response> | Response): void;
}

/**
 * In a service worker's `fetch` listener: answers the requests `match` accepts (and that carry no `Authorization`
 * yet) with a fetch that carries the session's token, retried once with a new token after a 401.
 * Returns whether it took the request.
 */
export function handleAuthFetch(
  event: AuthFetchEvent,
  { session, match }: { session: Session; match: (url: URL) => boolean },
): boolean {
  const { request } = event;
  if (request.headers.has('authorization') || !match(new URL(request.url))) return false;
  const send = async (rejected?: string): Promise<Response> => {
    const token = await session.getToken(rejected === undefined ? {} : { rejected });
    const headers = new Headers(request.headers);
    headers.set('authorization', `${token.tokenType} ${token.accessToken}`);
    const response = await fetch(new Request(request, { headers, mode: 'same-origin' }));
    return response.status === 401 && rejected === undefined ? send(token.accessToken) : response;
  };
  event.respondWith(send());
  return true;
}
