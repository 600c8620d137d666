import type { OpenEOCallOptions } from './openeo.js';
import type { OpenEO } from './openeo.js';

/** What `authenticateOpenEOJs` uses of an `@openeo/js-client` `Connection` (from `OpenEO.connect(url)`). */
export interface OpenEOJsConnection {
  /** Authenticates the connection with a token obtained elsewhere; the client forms the bearer itself. */
  setAuthToken(type: 'oidc' | 'basic', providerId: string, token: string): unknown;
  /** Called with `null` when the session signs out (typed `never`: the client declares `AuthProvider`, takes null). */
  setAuthProvider?(provider: never): unknown;
}

/**
 * Authenticates an `@openeo/js-client` connection with the session of `backend` (`openEO(…)`, same back-end), kept
 * fresh: `connection.setAuthToken('oidc', providerId, token)` now and at every renewal (`basic` with
 * `openEO({ basic })`). The provider id is the preset's (`providerId` or discovered). A sign-out (`session.clear()`)
 * unsets the token (`setAuthProvider(null)`). Returns a function that stops.
 *
 * @example
 * import { OpenEO } from '@openeo/js-client';
 * const backend = openEO({ url, provider });
 * const connection = await OpenEO.connect(url);
 * const stop = await authenticateOpenEOJs(backend, connection);
 */
export async function authenticateOpenEOJs(backend: OpenEO, connection: OpenEOJsConnection, options: OpenEOCallOptions = {}): Promise<() => void> {
  const providerId = await backend.providerId(options);
  let attached = true;
  const give = (accessToken: string): void => {
    if (attached) connection.setAuthToken(providerId === undefined ? 'basic' : 'oidc', providerId ?? '', accessToken);
  };
  give((await backend.session.getToken(options.signal === undefined ? {} : { signal: options.signal })).accessToken);
  const off = backend.session.on('token', (token) => give(token.accessToken));
  // Nothing issued before a sign-out is sent after it: the connection is no longer authenticated.
  const offCleared = backend.session.on('cleared', () => {
    if (attached) connection.setAuthProvider?.(null as never);
  });
  return () => {
    attached = false;
    off();
    offCleared();
  };
}
