/**
 * The MapLibre helper's signing protocol (package.json `imports` `#maplibre-dpop`): loaded by the first request a
 * DPoP session's map makes, so that a map without DPoP does not carry it (nor `fetchWithToken`).
 */
import { fetchWithToken } from '../http/fetch-with-token.js';
import { isSessionError, SessionError } from '../core/errors.js';
import type { Session } from '../core/session.js';

/** What MapLibre hands a custom protocol's loader (a subset of its `RequestParameters`; no MapLibre import needed). */
export interface MaplibreProtocolRequest {
  readonly url: string;
  readonly headers?: unknown;
  readonly method?: 'GET' | 'POST' | 'PUT' | undefined;
  readonly body?: string | undefined;
  readonly type?: 'string' | 'json' | 'arrayBuffer' | 'image' | undefined;
  readonly credentials?: 'same-origin' | 'include' | undefined;
  readonly cache?: RequestCache | undefined;
  readonly referrerPolicy?: ReferrerPolicy | undefined;
}

/** What the loader resolves: MapLibre's `GetResourceResponse` (the body as the request's `type` asks, and expiry data). */
export interface MaplibreProtocolResponse {
  data: ArrayBuffer | string | object;
  cacheControl?: string | null;
  expires?: string | null;
}

/** A loader for MapLibre's `addProtocol`. */
export type MaplibreProtocolLoader = (request: MaplibreProtocolRequest, abortController: AbortController) => Promise<MaplibreProtocolResponse>;

/** The part of MapLibre (the `maplibregl` namespace, or its named exports) that registers a custom protocol. */
export interface MaplibreProtocols {
  addProtocol(name: string, loader: MaplibreProtocolLoader): unknown;
  removeProtocol?(name: string): unknown;
}

/**
 * The loader of a custom protocol whose URLs are `<protocol>://<the real URL>`: it fetches the real URL with
 * `fetchWithToken`, so each attempt carries `Authorization` and — for a DPoP-bound token — a fresh DPoP proof whose
 * `htu` is the real URL; a nonce challenge is answered once and a 401 makes the session replace its token and the
 * request go once more (with a new proof). `transformRequest` rewrites only the URLs `match` names, so nothing else
 * comes here. Signed out (`login_required`), the URL is fetched without a token, as the synchronous path does.
 */
export function protocolLoader(session: Session, protocol: string): MaplibreProtocolLoader {
  const prefix = `${protocol}://`;
  return async (parameters, abortController) => {
    if (!parameters.url.startsWith(prefix)) throw new SessionError('invalid_options', `Not a ${protocol}:// URL`);
    const url = parameters.url.slice(prefix.length);
    const request = new Request(url, {
      method: parameters.method ?? 'GET',
      headers: new Headers((parameters.headers ?? {}) as HeadersInit),
      signal: abortController.signal,
      ...(parameters.body !== undefined && { body: parameters.body }),
      ...(parameters.credentials !== undefined && { credentials: parameters.credentials }),
      ...(parameters.cache !== undefined && { cache: parameters.cache }),
      ...(parameters.referrerPolicy !== undefined && { referrerPolicy: parameters.referrerPolicy }),
    });
    let response: Response;
    try {
      response = await fetchWithToken(session, request);
    } catch (error) {
      if (!isSessionError(error, 'login_required')) throw error;
      response = await fetch(request);
    }
    if (!response.ok) {
      void response.body?.cancel().catch(() => undefined);
      // MapLibre reports it as it reports a broken tile (the map's `error` event); the message names no token.
      throw new SessionError('request_failed', `The request failed (HTTP ${response.status})`, { status: response.status });
    }
    const expiry = { cacheControl: response.headers.get('cache-control'), expires: response.headers.get('expires') };
    if (parameters.type === 'json') return { data: await response.json(), ...expiry };
    if (parameters.type === 'string') return { data: await response.text(), ...expiry };
    // Tiles and images: their bytes, which MapLibre decodes as it decodes the ones it fetches itself.
    return { data: await response.arrayBuffer(), ...expiry };
  };
}
