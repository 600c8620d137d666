import { hashKey } from '../core/digest.js';
import { isSessionError, SessionError } from '../core/errors.js';
import type { TokenSet } from '../core/token.js';
import type { FetchTokenContext, TokenProvider } from './provider.js';
import { basicAuthorization, credentialKey, requireString, requireUrl, secretDigest } from './client-credentials.js';
import { Rotation } from './rotations.js';
import { LATE_ANSWER_WINDOW, refreshSender } from './refresh-in-flight.js';
import { parseTokenResponse, requestToken, type TokenRequestOptions } from './token-request.js';

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
  /**
   * How long (ms) a refresh request that left is waited on for its answer, however late, before its refresh token
   * counts as spent. The server may have rotated a refresh token whose answer is late, so it is never sent twice:
   * retries and later calls wait for that request instead of the attempt `timeout`, and when no answer comes in this
   * window (or the connection breaks after the request went out) the grant ends with `invalid_grant` (signed out).
   * Default 60 000.
   */
  readonly lateAnswerWindow?: number | undefined;
}

/** The longest `lateAnswerWindow`: what a timer can wait (about 24.8 days). */
const MAX_WINDOW = 2_147_483_647;

/**
 * The refresh token grant (RFC 6749 §6) with rotation: the newest refresh token is kept, and one that has been
 * exchanged successfully is never sent again, because servers with reuse detection revoke the whole family.
 */
export function refreshTokenGrant(options: RefreshTokenGrantOptions): TokenProvider {
  const { tokenUrl, clientId, clientSecret, scope, authMethod = 'client_secret_post', onRotate, lateAnswerWindow = LATE_ANSWER_WINDOW } = options;
  requireUrl('tokenUrl', tokenUrl);
  if (!(lateAnswerWindow > 0 && lateAnswerWindow <= MAX_WINDOW)) {
    throw new SessionError('invalid_options', `lateAnswerWindow must be a number of milliseconds above 0 and at most ${MAX_WINDOW}`);
  }
  const defaultExpiresIn = options.defaultExpiresIn ?? 3600;
  /** The refresh token of a 2xx answer: undefined when it has none, null when the answer is refused (spent all the same). */
  const readRefreshToken = (text: string, sentAt: number): string | undefined | null => {
    try {
      return parseTokenResponse(text, sentAt, defaultExpiresIn).refreshToken;
    } catch {
      return null;
    }
  };
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

  const fetchToken = async (context: FetchTokenContext, again: boolean): Promise<TokenSet> => {
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
    // The request that carries `sent` is never abandoned, nor `sent` sent again, while its answer may still come
    // (see refresh-in-flight.ts). Its answer is recorded whoever still waits for it: a 2xx spends `sent` before the
    // body is read (an answer we refuse never makes us send it again), a lost answer spends it too.
    const sender = refreshSender({
      key,
      refreshToken: sent,
      fetch: context.fetch,
      clock: context.clock,
      signal: context.signal,
      window: lateAnswerWindow,
      isSpent: () => rotation.isSpent(sent),
      listener: {
        status: (status) => {
          if (status >= 200 && status <= 299) rotation.spend(sent);
        },
        settled: (outcome, sentAt) => {
          if (outcome.kind === 'lost') rotation.spend(sent);
          if (outcome.kind !== 'answered' || outcome.status < 200 || outcome.status > 299) return;
          const next = readRefreshToken(outcome.text, sentAt);
          if (next === undefined || next === sent) rotation.kept(sent);
          else if (next !== null) {
            rotation.rotated(sent, next);
            onRotate?.(next);
          }
        },
      },
    });
    let set;
    try {
      set = await requestToken(tokenUrl, form, headers, { ...context, fetch: sender.fetch }, options);
    } catch (error) {
      // Another provider of this grant in this process spent `sent` between our attempts (both joined a request
      // answered 5xx; its retry went first and rotated): continue from the successor it recorded, once.
      const next = rotation.current;
      if (!sender.answeredOk && !again && isSessionError(error, 'invalid_grant') && next !== sent && !rotation.isSpent(next)) {
        return fetchToken({ ...context, refreshToken: undefined }, true);
      }
      if (!sender.answeredOk) throw error;
      // Spent, and its successor refused: the grant is over here. `invalid_grant` signs every context out (as a
      // dead refresh token does) instead of any of them sending the spent one again.
      const { message, status } = error as SessionError;
      throw new SessionError('invalid_grant', `The refresh answer was refused, and the refresh token it spent cannot be sent again: signed out (${message})`, {
        status,
        cause: error,
      });
    }
    // Recorded when the answer came (`settled`, once, with `onRotate`); again here for a provider of the same key
    // that joined another one's request.
    rotation.rotated(sent, set.refreshToken ?? sent);
    return { token: set.token, refreshToken: rotation.current };
  };
  return {
    key,
    canRefresh: true,
    usesRefreshToken: true,
    initialRefreshTokenDigest: hashKey(options.refreshToken),
    fetchToken: (context) => fetchToken(context, false),
  };
}
