/**
 * `shared-session/openeo`: an openEO back-end (CDSE's openEO among them) with the session's token, in openEO's own
 * bearer format (`Bearer oidc/<provider id>/<access token>`, the provider found with `GET /credentials/oidc`; or
 * `Bearer basic//<token>`; API 1.3's bare JWT where the back-end conforms to it), the API version found through
 * `/.well-known/openeo` (`connectOpenEO`), the 401 rule (one refresh for every caller, one retry), typed errors for openEO error
 * bodies, and typed calls: capabilities, collections, synchronous results and batch jobs.
 *
 * @packageDocumentation
 */
export {
  openEO,
  OpenEOError,
  openEOErrorOf,
  type OpenEO,
  type OpenEOBaseOptions,
  type OpenEOBasicOptions,
  type OpenEOCallOptions,
  type OpenEOCapabilities,
  type OpenEOCollection,
  type OpenEOCollections,
  type OpenEOJob,
  type OpenEOJobOptions,
  type OpenEOJobResults,
  type OpenEOJobs,
  type OpenEOJobStatus,
  type OpenEOOptions,
  type OpenEOProcess,
  type OpenEOProcessGraph,
  type OpenEOProcessNode,
  type OpenEOProviderOptions,
  type OpenEOResultOptions,
  type OpenEOSessionOptions,
  type OpenEOSessionSettings,
} from './presets/openeo.js';
export { connectOpenEO, discoverOpenEO, type OpenEODiscoveryOptions } from './presets/openeo-discovery.js';
export { authenticateOpenEOJs, type OpenEOJsConnection } from './presets/openeo-js.js';
