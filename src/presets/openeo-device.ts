import { SessionError } from '../index.js';
import type { OpenEODeviceOptions } from './openeo-types.js';
import { deviceSignIn } from '../node.js';
import { OpenEODeviceSessionHandle, type OpenEODeviceSettings, type OpenEODeviceSignIn } from './openeo-device-session.js';
import { SERVICE } from './openeo-errors.js';
import { discoverSignIn } from './openeo-sign-in.js';

/**
 * `openEO({ signIn: 'device' })` in Node and Deno (package.json `imports` `#openeo-device`; a browser gets
 * openeo-device-unavailable.ts): where the back-end says to sign in, and `deviceSignIn` there — one sign-in for every
 * process of this user (`localSharing`, unless `sharing` says otherwise) and every later run (the stored refresh
 * token). The same provider and client as `shared-session login --openeo <url>`, so both share one sign-in.
 */
export function openEODeviceSession(url: string, options: OpenEODeviceOptions, fetch: typeof globalThis.fetch): OpenEODeviceSessionHandle {
  if (options.signIn !== 'device') throw new SessionError('invalid_options', "signIn must be 'device' (the OAuth device flow), the only sign-in openEO offers here");
  const { providerId, clientId, onPrompt, store, sharing, refreshBeforeExpiry, signal } = options;
  const settings = { url, fetch, providerId, clientId, onPrompt, store, sharing, refreshBeforeExpiry };
  const handle = new OpenEODeviceSessionHandle(url, () => openEODeviceSignIn(settings));
  if (signal?.aborted) void handle.close();
  else signal?.addEventListener('abort', () => void handle.close(), { once: true });
  return handle;
}

async function openEODeviceSignIn(settings: OpenEODeviceSettings): Promise<OpenEODeviceSignIn> {
  const { url, fetch } = settings;
  const target = await discoverSignIn(url, fetch, { providerId: settings.providerId, clientId: settings.clientId, flow: 'device' });
  if (target.clientId === undefined) {
    throw new SessionError(
      'unsupported_provider',
      `The ${SERVICE} back-end lists no default client for the device flow of provider ${target.providerId}: pass clientId (a public client of ${target.issuer} allowed the device grant)`,
    );
  }
  const session = deviceSignIn({
    issuer: target.issuer,
    clientId: target.clientId,
    scope: target.scope,
    pkce: target.pkce,
    fetch,
    ...(settings.onPrompt === undefined ? {} : { onPrompt: settings.onPrompt }),
    ...(settings.store === undefined ? {} : { store: settings.store }),
    ...(settings.sharing === undefined ? {} : { sharing: settings.sharing }),
    ...(settings.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: settings.refreshBeforeExpiry }),
  });
  return { session, providerId: target.providerId };
}
