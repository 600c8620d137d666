import { hashKey } from '../core/digest.js';
import { SessionError } from '../core/errors.js';
import type { TokenProvider } from './provider.js';
import { basicAuthorization, credentialKey, requireString, secretDigest } from './client-credentials.js';
import { Rotation } from './rotations.js';
import { requestToken, type TokenRequestOptions } from './token-request.js';

export interface RefreshTokenGrantOptions extends TokenRequestOptions {
  readonly tokenUrl: string;
  readonly clientId: string;
  /**
   * The refresh token to start from. After a rotation, only the newest one is ever sent: a provider created again
   * in this process from a token that was already exchanged continues from the newest one instead.
   */
  readonly refreshToken: string;
  /** For confidential clients; sent with `client_secret_post` unless `authMethod` says otherwise. */
  readonly clientSecret?: string | undefined;
  readonly authMethod?: 'client_secret_post' | 'client_secret_basic' | undefined;
  readonly scope?: string | undefined;
  /**
   * Tells the sessions of one user apart. Default: a SHA-256 digest of the initial refresh token, so two users of one
   * client never share a session.
   */
  readonly key?: string | undefined;
  /** Called with each new refresh token the server issues (persist it if your app must survive a restart). */
  readonly onRotate?: ((refreshToken: string) => void) | undefined;
}

/**
 * The refresh token grant (RFC 6749 §6) with rotation: the newest refresh token is kept, and one that has been
 * exchanged successfully is never sent again, because servers with reuse detection revoke the whole family.
 */
export function refreshTokenGrant(options: RefreshTokenGrantOptions): TokenProvider {
  const { tokenUrl, clientId, clientSecret, scope, authMethod = 'client_secret_post', onRotate } = options;
  requireString('tokenUrl', tokenUrl);
  requireString('clientId', clientId);
  requireString('refreshToken', options.refreshToken);
  const key = credentialKey(
    'refresh_token',
    tokenUrl,
    clientId,
    scope,
    authMethod,
    secretDigest(clientSecret),
    options.key ?? hashKey(options.refreshToken),
  );
  // What this process knows of the grant's rotations: a session evicted from a pool and created again from the
  // app's original refresh token must not send it a second time.
  const rotation = new Rotation(key, options.refreshToken);

  return {
    key,
    canRefresh: true,
    usesRefreshToken: true,
    async fetchToken(context) {
      // A newer token from shared storage (another context rotated it) wins over ours, unless we already spent it.
      if (context.refreshToken !== undefined) rotation.offer(context.refreshToken);
      const sent = rotation.current;
      if (rotation.isSpent(sent)) {
        throw new SessionError('invalid_grant', 'The refresh token was already used and no newer one is known');
      }
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: sent });
      if (scope !== undefined) form.set('scope', scope);
      const headers: Record<string, string> = {};
      if (clientSecret !== undefined && authMethod === 'client_secret_basic') {
        headers.authorization = basicAuthorization(clientId, clientSecret);
      } else {
        form.set('client_id', clientId);
        if (clientSecret !== undefined) form.set('client_secret', clientSecret);
      }
      // A 2xx answer spent the token at the server (rotated, or may have): marked before the answer is read, so that
      // an answer we refuse never makes us send it again.
      let answered = false;
      let set;
      try {
        set = await requestToken(tokenUrl, form, headers, context, options, () => {
          answered = true;
          rotation.spend(sent);
        });
      } catch (error) {
        if (!answered) throw error;
        // Spent, and its successor refused: the grant is over here. `invalid_grant` signs every context out (as a
        // dead refresh token does) instead of any of them sending the spent one again.
        const { message, status } = error as SessionError;
        throw new SessionError('invalid_grant', `The refresh answer was refused, and the refresh token it spent cannot be sent again: signed out (${message})`, {
          status,
          cause: error,
        });
      }
      if (set.refreshToken !== undefined && set.refreshToken !== sent) {
        rotation.rotated(sent, set.refreshToken);
        onRotate?.(set.refreshToken);
      } else {
        // A server that does not rotate: the token sent is still the grant's.
        rotation.kept(sent);
      }
      return { token: set.token, refreshToken: rotation.current };
    },
  };
}
