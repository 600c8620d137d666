/**
 * `shared-session/maplibre`: a MapLibre GL `transformRequest` that adds the session's token to the tile, style and
 * source requests an app names (`match`).
 *
 * @packageDocumentation
 */
export { maplibreTransformRequest, type MaplibreMapLike, type MaplibreRequestParameters, type MaplibreTransformRequest } from './maps/maplibre.js';
export type { UrlMatch } from './http/url-match.js';
