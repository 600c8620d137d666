/**
 * `shared-session/openlayers`: OpenLayers `tileLoadFunction` and `imageLoadFunction` that fetch tiles and images
 * with the session's token and the 401 rule.
 *
 * @packageDocumentation
 */
export { openlayersImageLoadFunction, openlayersTileLoadFunction, type OpenLayersLoadFunction } from './maps/openlayers.js';
export type { UrlMatch } from './http/url-match.js';
