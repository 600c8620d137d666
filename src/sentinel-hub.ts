/**
 * `shared-session/sentinel-hub`: one session per Sentinel Hub / Copernicus Data Space OAuth client, with typed
 * Process, Catalog and WMTS helpers.
 *
 * @packageDocumentation
 */
export {
  CDSE,
  cdse,
  SENTINEL_HUB,
  sentinelHub,
  type CallOptions,
  type CatalogSearch,
  type CatalogSearchResult,
  type PartialStacItem,
  type ProcessOptions,
  type ProcessRequest,
  type SentinelHub,
  type SentinelHubEndpoints,
  type SentinelHubOptions,
  type StacAsset,
  type StacItem,
  type StacLink,
  type WmtsTileOptions,
} from './presets/sentinel-hub.js';
