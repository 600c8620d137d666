import { SessionError } from '../index.js';
import type { OpenEODeviceSessionHandle } from './openeo-device-session.js';

/**
 * `#openeo-device` where neither Node nor Deno runs (a browser, a Worker): the device sign-in keeps its refresh token
 * in a file or the OS keychain and shares it over local sockets, which only they have.
 */
export function openEODeviceSession(): OpenEODeviceSessionHandle {
  throw new SessionError('unsupported_context', "openEO's signIn: 'device' needs Node or Deno; in a browser, sign the person in with oidcSession (shared-session/oidc) and pass its session");
}
