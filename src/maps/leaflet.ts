import { type Coords, type DoneCallback, TileLayer, type TileLayerOptions } from 'leaflet';
import { loadImageWithToken } from '../http/image-loader.js';
import type { Session } from '../core/session.js';

/**
 * A Leaflet `TileLayer` whose tiles are fetched with the session's token (401 refresh-once rule included) instead of
 * being loaded by a plain `<img src>`, which cannot carry an `Authorization` header. Options, events (`tileload`,
 * `tileerror`, `tileabort`…) and `errorTileUrl` behave as in `L.TileLayer`; a tile that is no longer wanted has its
 * request aborted.
 */
export class SessionTileLayer extends TileLayer {
  readonly #session: Session;
  readonly #loading = new WeakMap<HTMLElement, AbortController>();

  constructor(session: Session, urlTemplate: string, options?: TileLayerOptions) {
    super(urlTemplate, options);
    this.#session = session;
    this.on('tileabort', (event) => this.#loading.get(event.tile)?.abort());
  }

  protected override createTile(coords: Coords, done: DoneCallback): HTMLElement {
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
    loadImageWithToken(this.#session, tile, this.getTileUrl(coords), controller.signal).catch(() => {
      if (!controller.signal.aborted) tile.dispatchEvent(new Event('error'));
    });
    return tile;
  }
}

/**
 * Creates a `SessionTileLayer`: `L.tileLayer(urlTemplate, options)` with the session's token on every tile request.
 *
 * @example
 * leafletTileLayer(session, 'https://tiles.example.com/{z}/{x}/{y}.png', { maxZoom: 18 }).addTo(map);
 */
export function leafletTileLayer(session: Session, urlTemplate: string, options?: TileLayerOptions): SessionTileLayer {
  return new SessionTileLayer(session, urlTemplate, options);
}
