import { OpenEO } from '@openeo/js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customProvider, memorySharing } from '../../src/index.js';
import { authenticateOpenEOJs, openEO } from '../../src/openeo.js';
import { startOpenEOServer, type OpenEOServer } from '../support/openeo-server.js';

/*
 * The README recipe "openEO's JavaScript client with this session", driving the real @openeo/js-client
 * (OpenEO.connect, describeAccount) against the local openEO stand-in: the connection carries the session's token,
 * and a valid one after the first token expired.
 */
const ISSUER = 'https://identity.dataspace.example/auth/realms/CDSE';
let backend: OpenEOServer;
beforeAll(async () => {
  backend = await startOpenEOServer((minted) => [{ id: 'CDSE', issuer: ISSUER, title: 'Copernicus Data Space', isValid: minted }]);
});
afterAll(() => backend.close());

describe('@openeo/js-client authenticated by the session', () => {
  it('describeAccount before and after the first token expired', async () => {
    let requests = 0;
    const provider = customProvider({
      key: 'openeo-js-recipe',
      fetchToken: async () => {
        requests++;
        const now = Date.now();
        return { accessToken: backend.mint(ISSUER, 2), tokenType: 'Bearer', issuedAt: now, expiresAt: now + 2_000 };
      },
    });
    const eo = openEO({ url: backend.url, provider, sharing: memorySharing() });
    const connection = await OpenEO.connect(backend.url);
    const stop = await authenticateOpenEOJs(eo, connection);
    try {
      expect(await connection.describeAccount()).toMatchObject({ name: 'Alice' });
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(await connection.describeAccount()).toMatchObject({ name: 'Alice' });
      expect(requests).toBeGreaterThanOrEqual(2);
      const me = backend.authorizations.filter((entry) => entry.path.endsWith('/me'));
      expect(me).toHaveLength(2);
      expect(me.every((entry) => /^Bearer oidc\/CDSE\/.+/.test(entry.authorization ?? ''))).toBe(true);
      expect(backend.stats.rejected).toBe(0);
    } finally {
      stop();
      await eo.close();
    }
  }, 30_000);
});
