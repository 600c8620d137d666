import { loadImageWithToken } from '../http/image-loader.js';
import type { Session } from '../core/session.js';

/**
 * An OpenLayers load function: `(tile, src) => void` for `tileLoadFunction`, `(image, src) => void` for
 * `imageLoadFunction`. OpenLayers types the tile as its base `Tile`, so the target is typed loosely here; at run time
 * it is an `ImageTile` or an `ImageWrapper`, whose `getImage()` is the element to fill. (No OpenLayers import needed.)
 */
export type OpenLayersLoadFunction = (target: object, src: string) => void;

/**
 * A `tileLoadFunction` for OpenLayers image tile sources (`XYZ`, `OSM`, `TileWMS`, `WMTS`…) that fetches every tile
 * with the session's token (401 refresh-once rule included). A tile that cannot be loaded ends in the tile's error
 * state, as a broken `src` would.
 *
 * @example
 * new TileLayer({ source: new XYZ({ url, tileLoadFunction: openlayersTileLoadFunction(session) }) });
 */
export function openlayersTileLoadFunction(session: Session): OpenLayersLoadFunction {
  return (tile, src) => load(session, tile, src);
}

/**
 * An `imageLoadFunction` for OpenLayers single-image sources (`ImageWMS`, `ImageStatic`, `ImageArcGISRest`…) that
 * fetches the image with the session's token.
 *
 * @example
 * new ImageLayer({ source: new ImageWMS({ url, params, imageLoadFunction: openlayersImageLoadFunction(session) }) });
 */
export function openlayersImageLoadFunction(session: Session): OpenLayersLoadFunction {
  return (image, src) => load(session, image, src);
}

function load(session: Session, target: object, src: string): void {
  const image = (target as { getImage?: () => unknown }).getImage?.();
  if (!(image instanceof HTMLImageElement)) return;
  // OpenLayers listens for the element's `load`/`error` events (its `src` is still empty when it starts listening),
  // so a failure is reported the way a broken image would report it.
  loadImageWithToken(session, image, src).catch(() => image.dispatchEvent(new Event('error')));
}
