import { SessionError } from '../core/errors.js';

/** The methods fetch normalises to upper case (Fetch Standard, "normalize a method"); any other is sent as given. */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * `htm`: the method exactly as fetch will send it, so that the server's comparison holds; anything that is not an
 * HTTP method token is `invalid_options`. Shared by the servers' proofs (jose) and the browser's (oauth4webapi).
 */
export function httpMethod(method: unknown): string {
  if (typeof method !== 'string' || !METHOD_TOKEN.test(method)) {
    throw new SessionError('invalid_options', 'method must be an HTTP method (a token such as GET or POST)');
  }
  const upper = method.toUpperCase();
  return NORMALISED_METHODS.has(upper) ? upper : method;
}
