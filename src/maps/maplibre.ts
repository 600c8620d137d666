import { authorizationHeader } from '../http/fetch-with-token.js';
import type { Session } from '../core/session.js';
import type { Token } from '../core/token.js';
import { isSessionError, SessionError } from '../core/errors.js';
import { compileMatch, type UrlMatch } from '../http/url-match.js';
import { onSignInChange } from './follow-sign-in.js';
import type { MaplibreProtocolLoader, MaplibreProtocols } from './maplibre-protocol.js';

/** What MapLibre's `transformRequest` returns (a subset of its `RequestParameters`; no MapLibre import needed). */
export interface MaplibreRequestParameters {
  url: string;
  headers?: Record<string, string>;
}

/** A MapLibre `transformRequest` that adds the session's token to matching URLs. */
export interface MaplibreTransformRequest {
  /**
   * Returns `{ url, headers: { Authorization } }` for a matching URL and `undefined` for any other, so that it composes:
   * `transformRequest: (url, type) => auth(url, type) ?? mine(url, type)`. Synchronous while a token with some life
   * left is in memory (the usual case); a Promise when there is none yet, or it ran out (e.g. after the laptop slept).
   */
  (url: string, resourceType?: string): MaplibreRequestParameters | Promise<MaplibreRequestParameters> | undefined;
  /**
   * Resolves once a token is in memory, or the session is known to be signed out (`login_required`: tiles then load
   * without a token); rejects with the session's error if neither can be known. On MapLibre < 5.21, whose
   * `transformRequest` must be synchronous, await it before creating the map.
   */
  readonly ready: Promise<void>;
  /**
   * Makes `map` follow the sign-in: a sign-in or a sign-out in any tab reloads its sources whose tile URLs this
   * `transformRequest` matches, so that protected tiles appear (failed ones are requested again) or go. Returns the
   * function that stops; `close()` stops it too.
   */
  follow(map: MaplibreMapLike): () => void;
  /** Stops following the session's tokens (and the sign-in, for every map given to `follow`). */
  close(): void;
}

/** Options of `maplibreTransformRequest`. */
export interface MaplibreTransformRequestOptions {
  /**
   * MapLibre's `addProtocol` (and `removeProtocol`): pass the `maplibregl` namespace, or `{ addProtocol, removeProtocol }`
   * from `maplibre-gl`. Required for a session created with `dpop` (a DPoP-bound token needs a fresh proof on every
   * request, which a synchronous `transformRequest` cannot make): the URLs `match` names are then loaded by a custom
   * protocol of this helper's own, which fetches them with `Authorization: DPoP` and a new proof per request (and per
   * retry). Unused by a Bearer session, whose requests MapLibre sends itself with the header. Default: none.
   */
  readonly maplibre?: MaplibreProtocols | undefined;
}

/** The part of a MapLibre tile source (raster, raster-dem, vector) that `follow` uses. */
interface TileSourceLike {
  readonly tiles?: unknown;
  setTiles?(tiles: string[]): unknown;
  setUrl?(url: string): unknown;
}

/** The part of a MapLibre `Map` that `follow` uses (no MapLibre import needed). */
export interface MaplibreMapLike {
  getStyle(): { readonly sources: Readonly<Record<string, unknown>> } | undefined;
  getSource(id: string): unknown;
}

// Below this much life left, a token is not handed out synchronously: the tile request would likely arrive expired.
const MIN_VALIDITY = 10_000;

/**
 * MapLibre's `transformRequest` is synchronous (a Promise is accepted only since MapLibre 5.21), while getting a token
 * is not. So the session's current token is kept in memory: it follows the session's `token` and `cleared` events
 * (the session refreshes ahead of expiry, in one context for all, and replaces a token an API rejected), and is handed
 * out synchronously while it has life left. It is always the token the session holds now, never an older one that
 * happens to live longer. MapLibre then fetches with its own machinery (cache, workers, request limits).
 *
 * Trade-off: MapLibre sends the request, so a 401 cannot be retried here; a tile refused because the API revoked a
 * token early fails like any broken tile. Use the service worker helper (`shared-session/service-worker`), which has
 * the 401 refresh-once rule, when that matters.
 *
 * DPoP (a session created with `dpop`): MapLibre cannot sign, so `transformRequest` hands the URLs `match` names to a
 * custom protocol (`options.maplibre`'s `addProtocol`), whose loader fetches each with `Authorization: DPoP` and a
 * fresh proof (`htu` the real URL), with the nonce and 401 rules of `fetchWithToken`; other URLs are left to MapLibre,
 * with neither token nor proof.
 *
 * @example
 * const transformRequest = maplibreTransformRequest(session, 'https://services.sentinel-hub.com/');
 * const map = new maplibregl.Map({ container: 'map', style, transformRequest });
 * // With `oidcSession({ ..., dpop: true })`:
 * maplibreTransformRequest(session, 'https://services.sentinel-hub.com/', { maplibre: maplibregl });
 */
export function maplibreTransformRequest(session: Session, match: UrlMatch, options: MaplibreTransformRequestOptions = {}): MaplibreTransformRequest {
  const matches = compileMatch(match);
  const protocol = session.dpop === undefined ? undefined : signingProtocol(session, options.maplibre);
  let current: Token | undefined;
  // Counts the session's announcements: a getToken answer is adopted only if none came while it was on its way
  // (an announcement is newer than any answer that started before it).
  let announcements = 0;
  // Known signed out (the session said `login_required`): tiles go without a token, at once, until a token comes.
  let signedOut = false;
  const offToken = session.on('token', (token) => {
    announcements++;
    current = token;
    signedOut = false;
  });
  const offCleared = session.on('cleared', () => {
    announcements++;
    current = undefined;
  });
  const ask = (): Promise<Token | undefined> => {
    const before = announcements;
    return session.getToken().then(
      (token) => {
        if (announcements === before) current = token;
        signedOut = false;
        return token;
      },
      (error: unknown) => {
        if (!isSessionError(error, 'login_required')) throw error;
        if (announcements === before) signedOut = true;
        return undefined;
      },
    );
  };
  const following = new Set<() => void>();
  const withToken = (url: string, token: Token | undefined): MaplibreRequestParameters =>
    token === undefined ? { url } : { url, headers: { Authorization: authorizationHeader(token) } };

  const transform = (url: string): MaplibreRequestParameters | Promise<MaplibreRequestParameters> | undefined => {
    let parsed: URL;
    try {
      parsed = new URL(url, globalThis.location?.href);
    } catch {
      return undefined;
    }
    if (!matches(parsed)) return undefined;
    // DPoP: the protocol's loader fetches the real URL, with a fresh proof per request; nothing to wait for here.
    if (protocol !== undefined) return { url: protocolUrl(protocol.name, parsed.href) };
    const token = current;
    const now = Date.now();
    if (token !== undefined) {
      const lifetime = token.expiresAt - token.issuedAt;
      const left = token.expiresAt - now;
      if (left > Math.min(MIN_VALIDITY, lifetime / 4)) {
        // Timers do not run in a sleeping tab: past half its life, let the session check whether a refresh is due.
        if (left < lifetime / 2) ask().catch(() => undefined);
        return withToken(url, token);
      }
    }
    if (token === undefined && signedOut) return { url };
    return ask().then((fresh) => withToken(url, fresh));
  };

  const follow = (map: MaplibreMapLike): (() => void) => {
    const stop = onSignInChange(session, () => {
      for (const [id, spec] of Object.entries(map.getStyle()?.sources ?? {})) {
        const source = map.getSource(id) as TileSourceLike | undefined;
        const { url, tiles } = spec as { url?: unknown; tiles?: unknown };
        if (typeof url === 'string') {
          // A TileJSON source: its `url` or the tiles it named (`source.tiles`, once loaded) may be the protected ones.
          // setUrl loads the TileJSON again, then its tiles: with the token now, or without it (they go).
          if (wants(url) || wantsAny(source?.tiles)) source?.setUrl?.(url);
          continue;
        }
        if (!wantsAny(tiles)) continue;
        // setTiles clears the source's tiles and loads them again: with the token now, or without it (they go).
        source?.setTiles?.(tiles as string[]);
      }
    });
    following.add(stop);
    return () => {
      stop();
      following.delete(stop);
    };
  };
  const wantsAny = (tiles: unknown): boolean => Array.isArray(tiles) && tiles.some((tile) => typeof tile === 'string' && wants(tile));
  const wants = (template: string): boolean => {
    try {
      return matches(new URL(template, globalThis.location?.href));
    } catch {
      return false;
    }
  };

  const ready = ask().then(() => undefined);
  ready.catch(() => undefined); // the caller may never await it; the session reports the error anyway
  return Object.assign(transform, {
    ready,
    follow,
    close() {
      offToken();
      offCleared();
      protocol?.remove();
      for (const stop of following) stop();
      following.clear();
    },
  });
}

/**
 * The custom protocol a DPoP session's matching URLs go through (see `MaplibreTransformRequestOptions.maplibre`):
 * registered now, with a name of its own, so that several maps and sessions of one page never mix their loaders.
 */
function signingProtocol(session: Session, maplibre: MaplibreProtocols | undefined): { name: string; remove(): void } {
  if (typeof maplibre?.addProtocol !== 'function') {
    throw new SessionError(
      'invalid_options',
      "This session's tokens are DPoP-bound: every tile request needs a fresh proof, which transformRequest cannot add. " +
        'Pass MapLibre to load them through a protocol that signs: maplibreTransformRequest(session, match, { maplibre: maplibregl })',
    );
  }
  // Never `http`, `https` or `file`, which MapLibre loads itself; unique even with two copies of this package loaded.
  const name = `shared-session-${++protocols}-${Math.random().toString(36).slice(2, 10)}`;
  // The loader's code (and fetchWithToken's) is loaded by the first request: maps without DPoP never load it.
  let loader: Promise<MaplibreProtocolLoader> | undefined;
  maplibre.addProtocol(name, async (request, abortController) => {
    loader ??= import('#maplibre-dpop').then(
      ({ protocolLoader }) => protocolLoader(session, name),
      (error: unknown) => {
        loader = undefined; // a chunk that failed to load (offline) is asked for again by the next tile
        throw error;
      },
    );
    return (await loader)(request, abortController);
  });
  return { name, remove: () => void maplibre.removeProtocol?.(name) };
}

/** Tells the protocols of several `maplibreTransformRequest`s of one page apart (MapLibre's registry is global). */
let protocols = 0;

/** `<protocol>://<the real URL>`: what `transformRequest` hands MapLibre for a URL the protocol's loader fetches. */
function protocolUrl(protocol: string, url: string): string {
  return `${protocol}://${url}`;
}
