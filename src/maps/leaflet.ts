import { type Coords, type DoneCallback, type Map as LeafletMap, TileLayer, type TileLayerOptions } from 'leaflet';
import { compileTokenMatch, loadImageWithToken, wantsToken } from '../http/image-loader.js';
import type { Session } from '../core/session.js';
import type { UrlMatch, UrlMatcher } from '../http/url-match.js';
import { onSignInChange } from './follow-sign-in.js';

/** `L.TileLayer`'s options, plus which tile URLs get the token. */
export interface SessionTileLayerOptions extends TileLayerOptions {
  /**
   * The tile URLs that get the session's token (a URL prefix, RegExp, function or array, as for
   * `maplibreTransformRequest` and the service worker); the others load as Leaflet loads them, without it. Without
   * `match`, every tile URL of the layer gets the token: give one whenever its URLs are not all your token's API.
   */
  readonly match?: UrlMatch | undefined;
}

/**
 * A Leaflet `TileLayer` whose tiles are fetched with the session's token (401 refresh-once rule included) instead of
 * being loaded by a plain `<img src>`, which cannot carry an `Authorization` header. Options, events (`tileload`,
 * `tileerror`, `tileabort`…) and `errorTileUrl` behave as in `L.TileLayer`; a tile that is no longer wanted has its
 * request aborted. With `match`, tiles whose URL it does not name are left to `L.TileLayer` itself.
 *
 * It follows the sign-in: signed out, tiles load without a token (nothing rejects); while on a map, a sign-in or a
 * sign-out in any tab redraws the layer, so protected tiles appear (failed ones are requested again) or go.
 */
export class SessionTileLayer extends TileLayer {
  readonly #session: Session;
  readonly #matches: UrlMatcher | undefined;
  readonly #loading = new WeakMap<HTMLElement, AbortController>();
  #unfollow: (() => void) | undefined;

  constructor(session: Session, urlTemplate: string, options?: SessionTileLayerOptions) {
    const { match, ...tileLayerOptions } = options ?? {};
    super(urlTemplate, tileLayerOptions);
    this.#session = session;
    this.#matches = compileTokenMatch(match);
    // A tile no longer wanted: one abandoned on a zoom (`tileabort`), or removed (`tileunload`: panned away, or the
    // redraw of a sign-in change, whose tile requests carry the token of a sign-in that may have ended).
    const abort = (event: { tile: HTMLElement }): void => this.#loading.get(event.tile)?.abort();
    this.on('tileabort', abort);
    this.on('tileunload', abort);
  }

  override onAdd(map: LeafletMap): this {
    super.onAdd(map);
    this.#unfollow?.();
    this.#unfollow = onSignInChange(this.#session, () => this.redraw());
    return this;
  }

  override onRemove(map: LeafletMap): this {
    this.#unfollow?.();
    this.#unfollow = undefined;
    return super.onRemove(map);
  }

  protected override createTile(coords: Coords, done: DoneCallback): HTMLElement {
    const url = this.getTileUrl(coords);
    if (!wantsToken(this.#matches, url)) return super.createTile(coords, done);
    const tile = document.createElement('img');
    tile.alt = ''; // decorative, as Leaflet's own tiles
    tile.addEventListener('load', () => done(undefined, tile));
    tile.addEventListener('error', () => {
      const { errorTileUrl } = this.options;
      if (errorTileUrl !== undefined && errorTileUrl !== '' && tile.getAttribute('src') !== errorTileUrl) tile.src = errorTileUrl;
      done(new Error('The tile could not be loaded'), tile);
    });
    const controller = new AbortController();
    this.#loading.set(tile, controller);
    loadImageWithToken(this.#session, tile, url, controller.signal).catch(() => {
      if (!controller.signal.aborted) tile.dispatchEvent(new Event('error'));
    });
    return tile;
  }
}

/**
 * Creates a `SessionTileLayer`: `L.tileLayer(urlTemplate, options)` with the session's token on every tile request
 * whose URL `options.match` names (every one without `match`).
 *
 * @example
 * leafletTileLayer(session, 'https://tiles.example.com/{z}/{x}/{y}.png', { maxZoom: 18, match: 'https://tiles.example.com/' }).addTo(map);
 */
export function leafletTileLayer(session: Session, urlTemplate: string, options?: SessionTileLayerOptions): SessionTileLayer {
  return new SessionTileLayer(session, urlTemplate, options);
}
