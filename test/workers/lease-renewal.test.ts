import { expect, it, onTestFinished } from 'vitest';
import { useProbeWorkers } from '../support/workerd.js';

// The lease outlives the work it guards: the holder renews it from inside its Worker request while its provider's
// retry chain runs, so that no other isolate starts a second token request beside a live holder.

const probe = useProbeWorkers('edge-renewal', 'cf-renewal-s3cr3t');

it('a holder slower than leaseTime (500 ms lease, 2 s token request) keeps its lease: 1 token request for 40 requests on 2 isolates', async () => {
  probe.server.latency = 2_000;
  const { mf, names } = await probe.start();
  const workers = await Promise.all(names.map((name) => mf.getWorker(name)));
  const started = Date.now();
  const replies = await Promise.all(
    Array.from({ length: 40 }, async (_, index) => {
      const response = await workers[index % workers.length]!.fetch('http://worker/shared?leaseTime=500');
      return (await response.json()) as { status: number; token?: string };
    }),
  );
  expect(replies.filter((reply) => reply.status !== 200)).toEqual([]);
  expect(new Set(replies.map((reply) => reply.token)).size).toBe(1);
  expect(probe.server.stats.tokenRequests).toBe(1);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
});

it(
  'every option at its default, the endpoint never answers: the holder’s whole chain (4 × 10 s + backoff) is the only one; a waiter gets its failure',
  async () => {
    const pending = { now: 0, max: 0, total: 0, active: true };
    // Routes outlive a test: this one stands aside once the test is over.
    onTestFinished(() => {
      pending.active = false;
    });
    probe.server.route((req, res, url) => {
      if (!pending.active || url.pathname !== '/token') return false;
      pending.total++;
      pending.max = Math.max(pending.max, ++pending.now);
      res.on('close', () => pending.now--);
      return true; // never answered
    });
    const { mf, names } = await probe.start();
    const started = Date.now();
    const holder = probe.get(mf, names[0]!, '/shared?defaults');
    await new Promise((resolve) => setTimeout(resolve, 31_000)); // past the 30 s lease: a renewed one still holds
    const waiter = await probe.get(mf, names[1]!, '/shared?defaults');
    const first = await holder;
    expect({ holder: first.error, waiter: waiter.error, requests: pending.total, concurrent: pending.max }).toEqual({
      holder: 'timeout',
      waiter: 'timeout',
      requests: 4,
      concurrent: 1,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40_000);
  },
  90_000,
);
