import { expect, it } from 'vitest';
import { isSessionError, memorySharing } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';
import { cdseSignIn, sentinelHubSignIn, SIGN_IN_ISSUERS } from '../../src/sentinel-hub.js';

/** The sign-in variants of the Sentinel Hub presets: the right issuer and API root, a public client, no secret. */

it('cdseSignIn signs in at the CDSE realm and calls sh.dataspace.copernicus.eu; sentinelHubSignIn at Sentinel Hub\'s', async () => {
  const copernicus = cdseSignIn({ clientId: 'my-public-client', redirectUri: 'https://app.example/', sharing: memorySharing() });
  expect(copernicus.issuer).toBe('https://identity.dataspace.copernicus.eu/auth/realms/CDSE');
  expect(copernicus.baseUrl).toBe('https://sh.dataspace.copernicus.eu');
  expect(copernicus.tokenUrl).toBe('https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token');
  // The same credential key as the provider on its own: a worker with `oidcProvider` joins the pages' session.
  expect(copernicus.session.key).toBe(oidcProvider({ issuer: SIGN_IN_ISSUERS.cdse, clientId: 'my-public-client' }).key);
  expect(copernicus.wmtsTileUrl({ instanceId: 'abc-123', layer: 'TRUE-COLOR' })).toMatch(/^https:\/\/sh\.dataspace\.copernicus\.eu\/ogc\/wmts\/abc-123\?/);

  const sh = sentinelHubSignIn({ clientId: 'my-public-client', sharing: memorySharing() });
  expect(sh.issuer).toBe('https://services.sentinel-hub.com/auth/realms/main');
  expect(sh.baseUrl).toBe('https://services.sentinel-hub.com');

  // Not signed in: API calls fail typed before any request; signing in needs a window.
  await copernicus.session.ready;
  expect(copernicus.session.signedIn).toBe(false);
  const error: unknown = await copernicus.process({ input: { bounds: {}, data: [] }, evalscript: '' }).catch((rejected: unknown) => rejected);
  expect(isSessionError(error, 'login_required')).toBe(true);
  const signIn: unknown = await copernicus.session.signIn().catch((rejected: unknown) => rejected);
  expect(isSessionError(signIn, 'unsupported_context')).toBe(true);
  await copernicus.close();
  await sh.close();
});
