/**
 * `shared-session/openlayers`: OpenLayers `tileLoadFunction` and `imageLoadFunction` that fetch tiles and images
 * with the session's token and the 401 rule.
 *
 * @packageDocumentation
 */
export { openlayersFollowSignIn, openlayersImageLoadFunction, openlayersTileLoadFunction, type OpenLayersLoadFunction, type RefreshableSource } from './maps/openlayers.js';
export type { UrlMatch } from './http/url-match.js';
