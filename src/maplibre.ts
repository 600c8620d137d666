/**
 * `shared-session/maplibre`: a MapLibre GL `transformRequest` that adds the session's token to the tile, style and
 * source requests an app names (`match`); with DPoP, a custom protocol that signs each of them.
 *
 * @packageDocumentation
 */
export {
  maplibreTransformRequest,
  type MaplibreMapLike,
  type MaplibreRequestParameters,
  type MaplibreTransformRequest,
  type MaplibreTransformRequestOptions,
} from './maps/maplibre.js';
export type { MaplibreProtocolLoader, MaplibreProtocolRequest, MaplibreProtocolResponse, MaplibreProtocols } from './maps/maplibre-protocol.js';
export type { UrlMatch } from './http/url-match.js';
