/**
 * `shared-session/leaflet`: a Leaflet `TileLayer` whose tiles are fetched with the session's token and the 401 rule.
 * Needs `leaflet` (an optional peer dependency).
 *
 * @packageDocumentation
 */
export { leafletTileLayer, SessionTileLayer, type SessionTileLayerOptions } from './maps/leaflet.js';
export type { UrlMatch } from './http/url-match.js';
