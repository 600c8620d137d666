import { SessionError } from '../core/errors.js';
import { hashKey } from '../core/digest.js';
import { tokenSchema } from '../core/schemas.js';
import type { TokenProvider } from './provider.js';
import { credentialKey, requireString } from './client-credentials.js';

/** What `staticToken` takes: a token obtained elsewhere, never refreshed. */
export interface StaticTokenOptions {
  readonly accessToken: string;
  /** Epoch ms. Without it the token is taken to be valid until an API rejects it. */
  readonly expiresAt?: number | undefined;
  /** Default `Bearer`. */
  readonly tokenType?: string | undefined;
  /** Tells static sessions apart. Default: a SHA-256 digest of the access token. */
  readonly key?: string | undefined;
}

/**
 * A token obtained elsewhere (like sentinelhub-py's `from_token`). It is never refreshed: once it has expired,
 * `getToken` rejects with `token_expired`.
 */
export function staticToken(options: StaticTokenOptions): TokenProvider {
  const { accessToken, expiresAt = Number.MAX_SAFE_INTEGER, tokenType = 'Bearer' } = options;
  requireString('accessToken', accessToken);
  if (!tokenSchema.safeParse({ accessToken, tokenType, expiresAt, issuedAt: 0 }).success) {
    // Never quoted: the message must not carry the token.
    throw new SessionError('invalid_options', 'staticToken needs a token and type that can be sent in a header, and a positive expiresAt');
  }
  let issuedAt: number | undefined;
  return {
    key: credentialKey('static', options.key ?? hashKey(accessToken)),
    canRefresh: false,
    usesRefreshToken: false,
    fetchToken({ clock }) {
      const now = clock.now();
      issuedAt ??= now;
      if (now >= expiresAt) {
        return Promise.reject(new SessionError('token_expired', 'The static token has expired and cannot be refreshed'));
      }
      return Promise.resolve({ token: { accessToken, tokenType, expiresAt, issuedAt } });
    },
  };
}
