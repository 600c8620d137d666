/**
 * `shared-session/earth-engine`: Earth Engine sessions with ee-client's operations over the REST API, Google
 * providers (a user's refresh token, an access token, a service account key), and per-user sessions from the headers SEPAL sends to its apps.
 *
 * @packageDocumentation
 */
export {
  assetName,
  EARTH_ENGINE_API,
  earthEngine,
  type EarthEngine,
  type EarthEngineAsset,
  type EarthEngineBaseOptions,
  type EarthEngineCallOptions,
  type EarthEngineExpression,
  type EarthEngineMap,
  type EarthEngineOperations,
  type EarthEngineOptions,
  type EarthEngineProviderOptions,
  type EarthEngineSessionOptions,
  type VisParams,
} from './presets/earth-engine.js';
export {
  GOOGLE_TOKEN_URL,
  googleAccessToken,
  googleRefreshToken,
  type GoogleRefreshTokenOptions,
} from './presets/google.js';
export {
  googleServiceAccount,
  type GoogleServiceAccountKey,
  type GoogleServiceAccountOptions,
} from './presets/google-service-account.js';
export {
  fromSepalHeaders,
  sepalSessions,
  sepalUser,
  type SepalEarthEngine,
  type SepalEarthEngineOptions,
  type SepalHeaders,
  type SepalOptions,
  type SepalSessionOptions,
  type SepalSessions,
  type SepalUser,
  type SessionSource,
} from './presets/sepal.js';
export {
  authenticateEarthEngineJs,
  type EarthEngineJsAuthApi,
  type EarthEngineJsAuthOptions,
  type EarthEngineJsAuthResponse,
} from './presets/earth-engine-js.js';
