/**
 * `shared-session/sentinel-hub`: one session per Sentinel Hub / Copernicus Data Space OAuth client, with typed
 * Process, Catalog and WMTS helpers; `sentinelHubSignIn` and `cdseSignIn` for browser apps whose users sign in.
 *
 * @packageDocumentation
 */
export {
  CDSE,
  cdse,
  cdseSignIn,
  SENTINEL_HUB,
  SIGN_IN_ISSUERS,
  sentinelHub,
  sentinelHubSignIn,
  type CallOptions,
  type CatalogSearch,
  type CatalogSearchResult,
  type PartialStacItem,
  type ProcessOptions,
  type ProcessRequest,
  type SentinelHub,
  type SentinelHubEndpoints,
  type SentinelHubOptions,
  type SentinelHubSignIn,
  type SentinelHubSignInOptions,
  type StacAsset,
  type StacItem,
  type StacLink,
  type WmtsTileOptions,
} from './presets/sentinel-hub.js';
export { authenticateSentinelHubJs, type SentinelHubJsAuthApi } from './presets/sentinelhub-js.js';
