import { afterAll, beforeAll, it } from 'vitest';
import { expectRedirectRule, type RedirectResult } from '../support/dpop-redirect-expectations.js';
import { startRedirectServers, type RedirectServers } from '../support/dpop-redirect-servers.js';
import { bundleWorker, startWorkers } from '../support/workerd.js';

// workerd (Miniflare) running the built package: the DPoP redirect rule (src/dpop/resource-request.ts), proven in
// Node by test/node/dpop-redirect-new-proof-per-hop.test.ts, holds with workerd's fetch too (its
// `redirect: 'manual'` shows `Location`): a new proof per same-origin hop, 5 hops at most, nothing of ours to another
// origin.

let servers: RedirectServers;
let script = '';

beforeAll(async () => {
  servers = await startRedirectServers();
  script = await bundleWorker('test/workers/fixtures/dpop-redirect.ts', 'dpop-redirect');
}, 120_000);
afterAll(async () => {
  await servers?.close();
});

it('workerd: same-origin redirects followed with a new proof per hop (≤ 5), another origin reached without token or proof', async () => {
  const { mf, names } = await startWorkers({ script, instances: 1, bindings: { ORIGIN: servers.origin } });
  try {
    const result = (await (await (await mf.getWorker(names[0]!)).fetch('http://worker/')).json()) as RedirectResult;
    expectRedirectRule(result, servers);
  } finally {
    await mf.dispose();
  }
}, 120_000);
