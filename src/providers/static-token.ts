import { SessionError } from '../core/errors.js';
import { fingerprint } from '../core/fingerprint.js';
import type { TokenProvider } from './provider.js';
import { requireString } from './client-credentials.js';

export interface StaticTokenOptions {
  readonly accessToken: string;
  /** Epoch ms. Without it the token is taken to be valid until an API rejects it. */
  readonly expiresAt?: number | undefined;
  /** Default `Bearer`. */
  readonly tokenType?: string | undefined;
  /** Tells static sessions apart. Default: a fingerprint of the access token. */
  readonly key?: string | undefined;
}

/**
 * A token obtained elsewhere (like sentinelhub-py's `from_token`). It is never refreshed: once it has expired,
 * `getToken` rejects with `token_expired`.
 */
export function staticToken(options: StaticTokenOptions): TokenProvider {
  const { accessToken, expiresAt = Number.MAX_SAFE_INTEGER, tokenType = 'Bearer' } = options;
  requireString('accessToken', accessToken);
  let issuedAt: number | undefined;
  return {
    key: `static|${encodeURIComponent(options.key ?? fingerprint(accessToken))}`,
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
