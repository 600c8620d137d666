import { SessionError, type Session, type Token } from '../index.js';

/** What Earth Engine's JavaScript client hands a token refresher's callback (`ee.data.AuthResponse`). */
export interface EarthEngineJsAuthResponse {
  readonly access_token?: string;
  readonly token_type?: string;
  readonly expires_in?: number;
  readonly state?: string;
  readonly error?: string;
}

/**
 * What `authenticateEarthEngineJs` uses of `@google/earthengine`: pass `ee.data`. Typed here so that the package
 * stays the app's dependency, not ours.
 */
export interface EarthEngineJsAuthApi {
  setAuthToken(
    clientId: string,
    tokenType: string,
    accessToken: string,
    expiresIn: number,
    extraScopes?: string[] | null,
    callback?: () => void,
    updateAuthLibrary?: boolean,
  ): void;
  setAuthTokenRefresher(refresher: ((authArgs: { scope?: string }, callback: (result: EarthEngineJsAuthResponse) => void) => void) | null): void;
  clearAuthToken?(): void;
}

/** Options of `authenticateEarthEngineJs`. */
export interface EarthEngineJsAuthOptions {
  /**
   * The client id ee-client is told. It must not be empty: with an empty one ee-client never calls the refresher and
   * its requests fail once the first token expires. Default `shared-session` (ee-client only uses it as a flag here).
   */
  readonly clientId?: string | undefined;
  /** Scopes besides Earth Engine's default ones, as `ee.data.setAuthToken`'s `extraScopes`. */
  readonly extraScopes?: readonly string[] | undefined;
}

/**
 * Feeds Earth Engine's JavaScript client (`@google/earthengine`) from `session` (e.g. `earthEngine(…).session`):
 * `ee.data.setAuthToken` with the current token, again at every renewal, and `ee.data.setAuthTokenRefresher` with
 * `session.getToken()`, which ee-client calls before its token expires and before an async call made with an expired
 * one. One token request per token lifetime for both clients. Call it before `ee.initialize`. Returns a function that
 * stops (the refresher is removed).
 *
 * @example
 * import ee from '@google/earthengine';
 * const session = earthEngine({ provider, project }).session;
 * await authenticateEarthEngineJs(session, ee.data);
 * ee.initialize(null, null, () => ee.Number(1).add(2).getInfo(console.log), console.error, null, 'my-project');
 */
export async function authenticateEarthEngineJs(
  session: Session,
  data: EarthEngineJsAuthApi,
  options: EarthEngineJsAuthOptions = {},
): Promise<() => void> {
  const { clientId = 'shared-session', extraScopes = [] } = options;
  if (typeof clientId !== 'string' || clientId === '') {
    throw new SessionError('invalid_options', 'clientId must not be empty: Earth Engine\'s client never calls the refresher without one');
  }
  let attached = true;
  const give = (token: Token): Promise<void> =>
    new Promise((resolve) => {
      if (!attached) return resolve();
      data.setAuthToken(clientId, token.tokenType, token.accessToken, secondsLeft(token), [...extraScopes], resolve, false);
    });
  await give(await session.getToken());
  data.setAuthTokenRefresher((authArgs, callback) => {
    session.getToken().then(
      (token) => callback({ access_token: token.accessToken, token_type: token.tokenType, expires_in: secondsLeft(token), ...(authArgs.scope === undefined ? {} : { state: authArgs.scope }) }),
      (error: unknown) => callback({ error: (error as { code?: unknown } | null)?.code === undefined ? 'token_unavailable' : String((error as { code: unknown }).code) }),
    );
  });
  const offToken = session.on('token', (token) => void give(token));
  const offCleared = session.on('cleared', () => {
    if (attached) data.clearAuthToken?.();
  });
  return () => {
    attached = false;
    offToken();
    offCleared();
    data.setAuthTokenRefresher(null);
  };
}

/** ee-client takes `expires_in` in seconds, from now (and counts it expired at 90 %). */
function secondsLeft(token: Token): number {
  return Math.max(1, Math.floor((token.expiresAt - Date.now()) / 1000));
}
