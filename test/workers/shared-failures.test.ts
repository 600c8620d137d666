import { expect, it } from 'vitest';
import { PROTOCOL_VERSION as v } from '../../src/sharing/cloudflare/protocol.js';
import { useProbeWorkers } from '../support/workerd.js';

// A token endpoint failure is the coordinator's to share: a 429 with Retry-After is known to every isolate and every
// later request until it passes.

const probe = useProbeWorkers('edge-failures', 'cf-failures-s3cr3t');

it('429 with Retry-After: 60 → one token request for 40 Worker requests over 2 isolates, every one rate_limited', async () => {
  const { mf, names } = await probe.start();
  probe.server.failNext(10_000, 429, { retryAfter: '60' });
  const errors = new Set<string>();
  for (let index = 0; index < 40; index++) {
    const reply = await probe.get(mf, names[index % names.length]!, '/shared');
    errors.add(reply.error ?? `status ${reply.status}`);
  }
  // Expected: ~1 request, the rest answered rate_limited until the 60 s are up.
  expect({ errors: [...errors], requests: probe.server.stats.tokenRequests }).toEqual({ errors: ['rate_limited'], requests: 1 });
});

it('the remembered failure carries what is left of its Retry-After to every isolate, and ends when that passes', async () => {
  const { mf, names } = await probe.start();
  // maxDelay 500 ms: a Retry-After of 2 s ends the holder's chain at once, as 60 s does with the default 30 s.
  probe.server.failNext(1, 429, { retryAfter: '2' });
  const started = Date.now();
  expect(await probe.get(mf, names[0]!, '/shared?maxDelay=500')).toMatchObject({ error: 'rate_limited' });
  const answer = await probe.raw(mf, names[1]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
  expect(answer.body).toMatchObject({ type: 'failed', failure: { code: 'rate_limited', status: 429 } });
  const left = (answer.body!.failure as { retryAfter: number }).retryAfter;
  expect(left).toBeLessThan(2_000); // counting down since the holder gave up…
  expect(left).toBeGreaterThanOrEqual(2_000 - (Date.now() - started)); // …which was after `started`
  expect(probe.server.stats.tokenRequests).toBe(1);

  await new Promise((resolve) => setTimeout(resolve, left + 100));
  expect(await probe.get(mf, names[1]!, '/shared?maxDelay=500')).toMatchObject({ status: 200 });
  expect(probe.server.stats.tokenRequests).toBe(2);
});
