import {
  refreshTokenGrant,
  staticToken,
  type RefreshTokenGrantOptions,
  type StaticTokenOptions,
  type TokenProvider,
} from '../index.js';

/** Google's OAuth 2.0 token endpoint. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** What `googleRefreshToken` takes: `refreshTokenGrant`'s options, with Google's token endpoint as the default. */
export interface GoogleRefreshTokenOptions extends Omit<RefreshTokenGrantOptions, 'tokenUrl'> {
  /** Default `https://oauth2.googleapis.com/token`. */
  readonly tokenUrl?: string | undefined;
}

/**
 * A Google user's refresh token (from an OAuth consent with `access_type=offline` and an Earth Engine scope)
 * exchanged at Google's token endpoint. Google access tokens live an hour; a rotated refresh token is kept.
 */
export function googleRefreshToken(options: GoogleRefreshTokenOptions): TokenProvider {
  return refreshTokenGrant({ ...options, tokenUrl: options.tokenUrl ?? GOOGLE_TOKEN_URL });
}

/**
 * An access token obtained elsewhere (`gcloud auth print-access-token`, a Google Identity Services popup, a
 * backend). It is never refreshed: past `expiresAt`, calls fail with `token_expired`.
 */
export function googleAccessToken(options: StaticTokenOptions): TokenProvider {
  return staticToken(options);
}
