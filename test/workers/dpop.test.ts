import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importDPoPKey } from '../../src/dpop.js';
import { startDPoPServers, type DPoPServers } from '../support/dpop-servers.js';
import { bundleWorker, startWorkers } from '../support/workerd.js';

// workerd (Miniflare) running the built package: client credentials with DPoP (RFC 9449) against oidc-provider with
// DPoP required and nonces on, and the strict API (test/support/dpop-servers.ts). Two isolates.

let servers: DPoPServers;
let script = '';

beforeAll(async () => {
  servers = await startDPoPServers();
  script = await bundleWorker('test/workers/fixtures/dpop.ts', 'dpop');
}, 120_000);
afterAll(async () => {
  await servers?.close();
});

interface Reply {
  statuses: number[];
  tokenType: string;
  jkt: string;
  accessToken: string;
}

it('each isolate with its own key: its own bound token, every proof accepted; with the app key through the Durable Object: one token for both', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as JsonWebKey;
  const { jkt: appJkt } = await importDPoPKey(jwk);
  const { mf, names } = await startWorkers({
    script,
    instances: 2,
    bindings: {
      TOKEN_URL: servers.tokenUrl,
      API_URL: servers.apiUrl,
      CLIENT_ID: servers.clientId,
      CLIENT_SECRET: servers.clientSecret,
      DPOP_KEY: JSON.stringify(jwk),
    },
  });
  try {
    const call = async (name: string, route: string): Promise<Reply> => (await (await (await mf.getWorker(name)).fetch(`http://worker${route}`)).json()) as Reply;
    const own = await Promise.all(names.map((name) => call(name, '/own')));
    for (const reply of own) {
      expect(reply).toMatchObject({ statuses: [200, 200, 200], tokenType: 'DPoP' });
      expect(await servers.boundKey(reply.accessToken)).toBe(reply.jkt);
    }
    // Two isolates, two generated keys, two tokens: a token is never used with a key it is not bound to.
    expect(own[0]!.jkt).not.toBe(own[1]!.jkt);
    expect(servers.counts.tokensIssued).toBe(2);

    const shared = await Promise.all(names.map((name) => call(name, '/shared')));
    for (const reply of shared) expect(reply).toMatchObject({ statuses: [200, 200, 200], tokenType: 'DPoP', jkt: appJkt });
    expect(shared[0]!.accessToken).toBe(shared[1]!.accessToken);
    expect(await servers.boundKey(shared[0]!.accessToken)).toBe(appJkt);
    expect(servers.counts.tokensIssued).toBe(3);
    expect(servers.counts).toMatchObject({ apiAccepted: 12, apiRefused: 0, replayedJti: 0 });

    // The Durable Object with `dpop: true`: getToken refused (invalid_options), no token request.
    const requests = servers.counts.tokenRequests;
    const misuse = (await (await (await mf.getWorker(names[0]!)).fetch('http://worker/generated-key-shared')).json()) as { code: string; message: string };
    expect(misuse.code).toBe('invalid_options');
    expect(misuse.message).toMatch(/durable-object sharing.*dpop: \{ key \}/);
    expect(servers.counts.tokenRequests).toBe(requests);
  } finally {
    await mf.dispose();
  }
}, 120_000);
