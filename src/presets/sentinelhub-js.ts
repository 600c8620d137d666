import type { Session } from '../index.js';

/**
 * What `authenticateSentinelHubJs` uses of `@sentinel-hub/sentinelhub-js` (0.12): pass the module itself, `import * as
 * shjs from '@sentinel-hub/sentinelhub-js'`. Typed here so that the package stays the app's dependency, not ours.
 */
export interface SentinelHubJsAuthApi {
  /** sentinelhub-js keeps one token for the whole process and reads it when each request is built. */
  setAuthToken(token: string | null): void;
  /** Adds an interceptor to the axios instance every sentinelhub-js request goes through (it cannot be removed). */
  addAxiosRequestInterceptor(interceptor: (config: never) => unknown): void;
}

/** How many of the tokens given to sentinelhub-js are still recognised in requests built before a newer one came. */
const RECENT_TOKENS = 8;

/**
 * Authenticates sentinelhub-js with `session` (e.g. `sentinelHub(…).session`), kept fresh: the token is given to
 * `setAuthToken` now and whenever the session has a new one, and a request interceptor replaces it, just before each
 * request leaves, by `session.getToken()` (so a request built with a token that has since expired is sent with the
 * current one). Only requests that carry a token this function gave are touched: one passed in `reqConfig.authToken`
 * is left as it is. A sign-out (`session.clear()`) unsets the token. Returns a function that stops it (the
 * interceptor stays, inert: sentinelhub-js cannot remove it).
 *
 * @example
 * import * as shjs from '@sentinel-hub/sentinelhub-js';
 * const sh = sentinelHub({ clientId, clientSecret });
 * const stop = await authenticateSentinelHubJs(sh.session, shjs);
 * const image = await new shjs.S2L2ALayer({ evalscript }).getMap(params, shjs.ApiType.PROCESSING);
 */
export async function authenticateSentinelHubJs(session: Session, shjs: SentinelHubJsAuthApi): Promise<() => void> {
  const given: string[] = [];
  let attached = true;
  const give = (accessToken: string): void => {
    if (!attached) return;
    if (!given.includes(accessToken)) given.push(accessToken);
    if (given.length > RECENT_TOKENS) given.shift();
    shjs.setAuthToken(accessToken);
  };
  give((await session.getToken()).accessToken);
  const offToken = session.on('token', (token) => give(token.accessToken));
  // The tokens given stay known: a request built with one before the sign-out is still recognised, and leaves with
  // the session's token of after it (or fails, signed out), never with the signed-out one.
  const offCleared = session.on('cleared', () => {
    if (attached) shjs.setAuthToken(null);
  });
  shjs.addAxiosRequestInterceptor((async (config: { headers?: unknown }) => {
    const bearer = /^Bearer (.+)$/.exec(String(readHeader(config.headers, 'authorization') ?? ''))?.[1];
    if (!attached || bearer === undefined || !given.includes(bearer)) return config;
    const { accessToken } = await session.getToken();
    give(accessToken);
    writeHeader(config.headers, 'Authorization', `Bearer ${accessToken}`);
    return config;
  }) as (config: never) => unknown);
  return () => {
    attached = false;
    offToken();
    offCleared();
  };
}

/** axios's headers are an `AxiosHeaders` (case-insensitive `get`/`set`) or, in older versions, a plain object. */
function readHeader(headers: unknown, name: string): unknown {
  if (headers === null || typeof headers !== 'object') return undefined;
  const { get } = headers as { get?: unknown };
  if (typeof get === 'function') return (get as (name: string) => unknown).call(headers, name);
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

function writeHeader(headers: unknown, name: string, value: string): void {
  if (headers === null || typeof headers !== 'object') return;
  const { set } = headers as { set?: unknown };
  if (typeof set === 'function') {
    (set as (name: string, value: string) => unknown).call(headers, name, value);
    return;
  }
  const record = headers as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key.toLowerCase() === name.toLowerCase()) delete record[key];
  record[name] = value;
}
