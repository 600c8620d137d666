/**
 * `shared-session/leaflet`: a Leaflet `TileLayer` whose tiles are fetched with the session's token and the 401 rule.
 * Needs `leaflet` (an optional peer dependency).
 *
 * @packageDocumentation
 */
export { leafletTileLayer, SessionTileLayer } from './maps/leaflet.js';
