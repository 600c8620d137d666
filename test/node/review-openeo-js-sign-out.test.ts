import { OpenEO } from '@openeo/js-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { customProvider, memorySharing } from '../../src/index.js';
import { authenticateOpenEOJs, openEO } from '../../src/openeo.js';
import { startOpenEOServer, type OpenEOServer } from '../support/openeo-server.js';

// README: "a sign-out reaches every context and nothing issued before it is handed out anywhere, ever". The
// sentinelhub-js and Earth Engine adapters unset the token on `cleared`; authenticateOpenEOJs did not listen for it:
// after `session.clear()` the @openeo/js-client connection went on sending the signed-out token with every request
// until the app closed it.

const ISSUER = 'https://identity.dataspace.example/auth/realms/CDSE';
let backend: OpenEOServer;
beforeAll(async () => {
  backend = await startOpenEOServer((minted) => [{ id: 'CDSE', issuer: ISSUER, title: 'Copernicus Data Space', isValid: minted }]);
});
afterAll(() => backend.close());

it('after a sign-out the openEO connection no longer sends the signed-out token', async () => {
  const provider = customProvider({
    key: 'openeo-js-review',
    fetchToken: async () => {
      const now = Date.now();
      return { accessToken: backend.mint(ISSUER, 3600), tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
    },
  });
  const eo = openEO({ url: backend.url, provider, sharing: memorySharing() });
  const connection = await OpenEO.connect(backend.url);
  const stop = await authenticateOpenEOJs(eo, connection);
  try {
    const before = (await eo.session.getToken()).accessToken;
    expect(await connection.describeAccount()).toMatchObject({ name: 'Alice' });
    await eo.session.clear();
    backend.authorizations.length = 0;
    await connection.describeAccount().catch(() => undefined);
    // Observed: the request left with `Bearer oidc/CDSE/<the signed-out token>`.
    expect(backend.authorizations.map((entry) => entry.authorization ?? '').filter((value) => value.endsWith(before))).toEqual([]);
    expect(connection.isAuthenticated()).toBe(false);
  } finally {
    stop();
    await eo.close();
  }
}, 30_000);
