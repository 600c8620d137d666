import { isSessionError } from '../index.js';
import { discoverSignIn } from '../presets/openeo-sign-in.js';
import { CliError, toCliError, usageError } from './cli-error.js';
import { EXIT } from './exit-codes.js';

export interface OpenEOSignIn {
  readonly url: string;
  readonly providerId: string;
  readonly issuer: string;
  /** A default client of the back-end for this flow, when it lists one. */
  readonly clientId: string | undefined;
  readonly scope: string;
}

/**
 * What an openEO back-end says about signing in: its OIDC providers (`GET /credentials/oidc`), the one asked for (or
 * the first listed, as openEO's own clients pick), and a default client that allows `flow` — read by the preset's
 * discovery (src/presets/openeo-sign-in.ts), the one `openEO({ signIn: 'device' })` uses, with its failures as the
 * command line's exit codes.
 */
export async function discoverOpenEO(url: string, providerId: string | undefined, flow: 'device' | 'browser'): Promise<OpenEOSignIn> {
  const root = apiRoot(url);
  const fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => globalThis.fetch(input, init);
  try {
    const found = await discoverSignIn(root, fetch, { providerId, flow });
    return { url: root, providerId: found.providerId, issuer: found.issuer, clientId: found.clientId, scope: found.scope };
  } catch (error) {
    if (isSessionError(error, 'api_error')) throw new CliError(EXIT.failure, `the openEO back-end answered ${error.status ?? 'an error'} for /credentials/oidc`, { cause: error });
    if (isSessionError(error, 'invalid_response')) throw new CliError(EXIT.failure, "the openEO back-end's /credentials/oidc is not the shape openEO specifies", { cause: error });
    if (isSessionError(error, 'unsupported_provider')) throw usageError('the openEO back-end lists no OIDC provider');
    throw toCliError(error);
  }
}

/** The back-end's API root: an absolute `https:` URL (`http:` on loopback), without a trailing slash, query or hash. */
export function apiRoot(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError('--openeo must be an absolute URL');
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) throw usageError('--openeo must be an https: URL (http: only on this machine)');
  if (parsed.username !== '' || parsed.password !== '') throw usageError('--openeo must not hold a user name or password');
  parsed.search = '';
  parsed.hash = '';
  return parsed.href.replace(/\/+$/, '');
}
