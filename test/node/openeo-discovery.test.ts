import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenEO as OpenEOJs } from '@openeo/js-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { customProvider, isSessionError, memorySharing, type TokenProvider } from '../../src/index.js';
import { connectOpenEO, discoverOpenEO, openEO, type OpenEO } from '../../src/openeo.js';
import { startOpenEOServer, type OpenEOServer } from '../support/openeo-server.js';

// What openEO's own clients do before any call: pick the API version from /.well-known/openeo, and on API 1.3
// back-ends with the JWT conformance class send the access token as it is. Against the local stand-in, and compared
// with @openeo/js-client's own choice where both decide the same thing.

const ISSUER = 'https://identity.dataspace.example/auth/realms/CDSE';
let backend: OpenEOServer;
const open: OpenEO[] = [];

beforeAll(async () => {
  backend = await startOpenEOServer((minted) => [
    { id: 'CDSE', issuer: ISSUER, title: 'Copernicus Data Space', isValid: minted },
    { id: 'egi', issuer: 'https://aai.egi.example/', title: 'EGI Check-in', isValid: minted },
  ]);
});
afterAll(() => backend.close());
afterEach(async () => {
  await Promise.all(open.splice(0).map((each) => each.close()));
  backend.reset();
});

function minting(): TokenProvider & { readonly requests: number } {
  const state = { requests: 0 };
  const provider = customProvider({
    key: `minting-discovery:${Math.random()}`,
    fetchToken: async () => {
      state.requests++;
      const now = Date.now();
      return { accessToken: backend.mint(ISSUER), tokenType: 'Bearer', issuedAt: now, expiresAt: now + 600_000 };
    },
  });
  return Object.defineProperty(provider, 'requests', { get: () => state.requests }) as TokenProvider & { readonly requests: number };
}

const reason = (error: unknown): string => (isSessionError(error) ? error.code : String(error));

describe('discoverOpenEO: the API root from /.well-known/openeo', () => {
  it('picks the newest production API 1.x (1.3), never 2.x, 0.4 or a pre-release marked production over a release', async () => {
    expect(await discoverOpenEO(backend.origin)).toBe(backend.url13);
    expect(await discoverOpenEO(`${backend.origin}/`)).toBe(backend.url13);
  });

  it('the same version as @openeo/js-client picks', async () => {
    const connection = await OpenEOJs.connect(backend.origin);
    expect(await discoverOpenEO(backend.origin)).toBe(connection.getBaseUrl().replace(/\/+$/, ''));
  });

  it('prefers a production version: 1.2 when 1.3 is not marked production', async () => {
    backend.wellKnown = 'both, 1.3 not production';
    expect(await discoverOpenEO(backend.origin)).toBe(backend.url);
    expect((await OpenEOJs.connect(backend.origin)).getBaseUrl().replace(/\/+$/, '')).toBe(backend.url);
  });

  it('no well-known document (404): the URL is the API root as it is, as openEO clients fall back', async () => {
    backend.wellKnown = 'none';
    expect(await discoverOpenEO(backend.url)).toBe(backend.url);
  });

  it('only versions it does not speak: invalid_response naming them', async () => {
    backend.wellKnown = 'only 2.x';
    const error = await discoverOpenEO(backend.origin).catch((caught: unknown) => caught);
    expect(reason(error)).toBe('invalid_response');
    expect(String((error as Error).message)).toContain('2.0.0');
  });

  it('bad input and an unreachable back-end are typed errors, not TypeErrors', async () => {
    for (const bad of [undefined, 42, 'not a url', 'ftp://example.org', 'https://user:pw@example.org']) {
      expect(reason(await discoverOpenEO(bad as string).catch((caught: unknown) => caught))).toBe('invalid_options');
    }
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(reason(await discoverOpenEO(`http://127.0.0.1:${port}`).catch((caught: unknown) => caught))).toBe('endpoint_unavailable');
    const aborted = AbortSignal.abort();
    expect(reason(await discoverOpenEO(backend.origin, { signal: aborted }).catch((caught: unknown) => caught))).toBe('aborted');
  });

  it('a listed root with credentials in it or another scheme is refused (the token would go there)', async () => {
    const hostile = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ versions: [{ url: req.url === '/a/.well-known/openeo' ? 'https://user:pw@evil.example/openeo/1.2' : 'javascript:alert(1)', api_version: '1.2.0', production: true }] }),
      );
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    try {
      expect(reason(await discoverOpenEO(`${origin}/a`).catch((caught: unknown) => caught))).toBe('invalid_options');
      expect(reason(await discoverOpenEO(`${origin}/b`).catch((caught: unknown) => caught))).toBe('invalid_options');
    } finally {
      hostile.closeAllConnections();
      await new Promise((resolve) => hostile.close(resolve));
    }
  });
});

describe('API 1.3 with the JWT conformance class: the bare JWT bearer', () => {
  it('connectOpenEO on the back-end URL: calls on 1.3 with `Bearer <jwt>`, 1 token request, no provider discovery', async () => {
    const provider = minting();
    const eo = await connectOpenEO({ url: backend.origin, provider, sharing: memorySharing() });
    open.push(eo);
    expect(eo.url).toBe(backend.url13);
    const answers = await Promise.all(Array.from({ length: 10 }, () => eo.fetch('me')));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(provider.requests).toBe(1);
    expect(backend.stats.discovery).toBe(0);
    expect(backend.authorizations.every(({ authorization }) => /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(authorization ?? ''))).toBe(true);
    expect(await (await eo.client.get('me')).json()).toEqual({ user_id: 'oidc:CDSE', name: 'Alice' });
  });

  it('conformance classes on a linked page are read too', async () => {
    backend.conformanceByLink = true;
    const eo = openEO({ url: backend.url13, provider: minting(), sharing: memorySharing() });
    open.push(eo);
    expect((await eo.fetch('me')).status).toBe(200);
  });

  it('API 1.2 keeps `Bearer oidc/<id>/<token>`', async () => {
    const eo = openEO({ url: backend.url, provider: minting(), sharing: memorySharing() });
    open.push(eo);
    expect((await eo.fetch('me')).status).toBe(200);
    expect(backend.authorizations[0]?.authorization).toMatch(/^Bearer oidc\/CDSE\//);
  });

  it('bearer given: no capabilities read; a wrong value is invalid_options', async () => {
    const eo = openEO({ url: backend.url13, provider: minting(), sharing: memorySharing(), bearer: 'jwt' });
    open.push(eo);
    expect((await eo.fetch('me')).status).toBe(200);
    expect(() => openEO({ url: backend.url13, provider: minting(), bearer: 'bare' as 'jwt' })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });

  it('capabilities unreadable (503): openEO\'s own format this time, and the next call reads them again', async () => {
    const seen: Array<string | undefined> = [];
    let capabilities = 0;
    const flaky = createServer((req, res) => {
      if (req.url === '/openeo/1.3/') {
        capabilities++;
        if (capabilities === 1) return void res.writeHead(503).end();
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ conformsTo: ['https://api.openeo.org/1.3.0/authentication/jwt'] }));
      }
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const root = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/openeo/1.3`;
    const eo = openEO({ url: root, providerId: 'CDSE', provider: minting(), sharing: memorySharing() });
    open.push(eo);
    try {
      expect((await eo.fetch('me')).status).toBe(200);
      expect((await eo.fetch('me')).status).toBe(200);
      expect((await eo.fetch('me')).status).toBe(200);
      expect(capabilities).toBe(2);
      expect(seen[0]).toMatch(/^Bearer oidc\/CDSE\//);
      expect(seen.slice(1).every((header) => /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(header ?? ''))).toBe(true);
    } finally {
      flaky.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });
});
