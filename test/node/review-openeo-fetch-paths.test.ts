import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySharing, staticToken } from '../../src/index.js';
import { openEO } from '../../src/openeo.js';

// Review of `eo.fetch` (README "openEO": a path under `url`, or an absolute URL under it; anything else is
// `invalid_options`, so the token goes nowhere else).

let server: Server;
let origin: string;
const seen: Array<{ path: string; authorization: string | undefined }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function backend(url: string) {
  return openEO({ url, providerId: 'CDSE', provider: staticToken({ accessToken: 'cdse-access-token' }), sharing: memorySharing(), bearer: 'openeo' /* a stand-in answering {} to everything: no capabilities to read */ });
}

describe('openEO fetch: review', () => {
  it('a back-end whose API root is the origin itself (`https://host/`): paths under it are sent', async () => {
    for (const url of [origin, `${origin}/`]) {
      const eo = backend(url);
      seen.length = 0;
      try {
        expect((await eo.fetch('me')).status).toBe(200);
        expect((await eo.fetch(`${origin}/jobs`)).status).toBe(200);
        expect(seen.map((request) => request.path)).toEqual(['/me', '/jobs']);
      } finally {
        await eo.close();
      }
    }
  });

  // Tomcat, Jetty and Spring read `..;` (a dot-dot segment with an empty path parameter) as `..`: the request lands
  // outside the API root on a Java back-end or gateway, with the token.
  for (const path of ['..;/..;/admin/users', 'jobs/..;/..;/..;/admin', '..%3b/..%3B/admin']) {
    it(`"${path}" is refused like "../../admin/users"`, async () => {
      const eo = backend(`${origin}/openeo/1.2`);
      seen.length = 0;
      try {
        await expect(eo.fetch(path)).rejects.toMatchObject({ code: 'invalid_options' });
        expect(seen).toEqual([]);
      } finally {
        await eo.close();
      }
    });
  }
});
