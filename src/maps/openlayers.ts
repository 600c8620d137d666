import { compileTokenMatch, loadImageWithToken, wantsToken } from '../http/image-loader.js';
import type { Session } from '../core/session.js';
import type { UrlMatch, UrlMatcher } from '../http/url-match.js';
import { onSignInChange } from './follow-sign-in.js';

/**
 * An OpenLayers load function: `(tile, src) => void` for `tileLoadFunction`, `(image, src) => void` for
 * `imageLoadFunction`. OpenLayers types the tile as its base `Tile`, so the target is typed loosely here; at run time
 * it is an `ImageTile` or an `ImageWrapper`, whose `getImage()` is the element to fill. (No OpenLayers import needed.)
 */
export type OpenLayersLoadFunction = (target: object, src: string) => void;

/**
 * A `tileLoadFunction` for OpenLayers image tile sources (`XYZ`, `OSM`, `TileWMS`, `WMTS`…) that fetches tiles with
 * the session's token (401 refresh-once rule included). A tile that cannot be loaded ends in the tile's error state,
 * as a broken `src` would.
 *
 * `match` (a URL prefix, RegExp, function or array, as for `maplibreTransformRequest` and the service worker) says
 * which URLs get the token; the others load as OpenLayers loads them by default, without it. Without `match`, every
 * URL the source loads gets the token: give one whenever the source's URLs are not all your token's API.
 *
 * @example
 * new TileLayer({ source: new XYZ({ url, tileLoadFunction: openlayersTileLoadFunction(session, 'https://tiles.example.com/') }) });
 */
export function openlayersTileLoadFunction(session: Session, match?: UrlMatch): OpenLayersLoadFunction {
  const matches = compileTokenMatch(match);
  return (tile, src) => load(session, matches, tile, src);
}

/**
 * An `imageLoadFunction` for OpenLayers single-image sources (`ImageWMS`, `ImageStatic`, `ImageArcGISRest`…) that
 * fetches the image with the session's token; `match` as for `openlayersTileLoadFunction`.
 *
 * @example
 * new ImageLayer({ source: new ImageWMS({ url, params, imageLoadFunction: openlayersImageLoadFunction(session, url) }) });
 */
export function openlayersImageLoadFunction(session: Session, match?: UrlMatch): OpenLayersLoadFunction {
  const matches = compileTokenMatch(match);
  return (image, src) => load(session, matches, image, src);
}

/** An OpenLayers source (`XYZ`, `TileWMS`, `ImageWMS`…): `refresh()` clears it and loads it again. */
export interface RefreshableSource {
  refresh(): void;
}

/**
 * Makes `source` follow the sign-in: a sign-in or a sign-out in any tab refreshes it, so that protected tiles appear
 * (failed ones are requested again) or go. Signed out, the load functions above load without a token and reject
 * nothing. Returns the function that stops following.
 *
 * @example
 * const source = new XYZ({ url, tileLoadFunction: openlayersTileLoadFunction(session, url) });
 * openlayersFollowSignIn(session, source);
 */
export function openlayersFollowSignIn(session: Session, source: RefreshableSource): () => void {
  return onSignInChange(session, () => source.refresh());
}

function load(session: Session, matches: UrlMatcher | undefined, target: object, src: string): void {
  const image = (target as { getImage?: () => unknown }).getImage?.();
  if (!(image instanceof HTMLImageElement)) return;
  if (!wantsToken(matches, src)) {
    // OpenLayers' own default load function.
    image.src = src;
    return;
  }
  // A tile OpenLayers lets go while it loads (a refresh on a sign-in change, a tile cache pruned after a pan) goes
  // `EMPTY`: its request, which carries the token of a sign-in that may have ended, is aborted.
  const controller = new AbortController();
  const tile = target as Partial<ObservedTile>;
  const released = (): void => {
    if (tile.getState?.() === TILE_EMPTY) controller.abort();
  };
  tile.addEventListener?.('change', released);
  // OpenLayers listens for the element's `load`/`error` events (its `src` is still empty when it starts listening),
  // so a failure is reported the way a broken image would report it.
  loadImageWithToken(session, image, src, controller.signal)
    .catch(() => {
      if (!controller.signal.aborted) image.dispatchEvent(new Event('error'));
    })
    .finally(() => tile.removeEventListener?.('change', released));
}

/** OpenLayers' `TileState.EMPTY`: what a tile the source or its cache released is set to. */
const TILE_EMPTY = 4;

/** The part of an OpenLayers tile (an `ol/events/Target`) that the load function watches. */
interface ObservedTile {
  getState(): number;
  addEventListener(type: 'change', listener: () => void): void;
  removeEventListener(type: 'change', listener: () => void): void;
}
