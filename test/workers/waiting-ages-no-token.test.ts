import { expect, it } from 'vitest';
import { PROTOCOL_VERSION as v } from '../../src/sharing/cloudflare/protocol.js';
import { fetchTokenAsHolder, useProbeWorkers } from '../support/workerd.js';

/**
 * Durable Object coordinator (workerd via miniflare): the time an isolate waits at the coordinator for another
 * isolate's token request does not count as the age of the token it gets. The `token` answer's `now` is read when the
 * `acquire` arrived, so a token fetched for the waiters while they waited is as fresh to them as it is: they take it,
 * and nobody sends a second token request for the same lifetime. (Before, the coordinator's clock was read when it
 * answered: a wait longer than the token's life outside its refresh margin made the fresh token look inside it, the
 * waiters rejected it and one of them fetched another — 3 token requests for 2 lifetimes in a loaded CI run.)
 */
const probe = useProbeWorkers('edge-waiting-ages-no-token', 'cf-waiting-ages-no-token-s3cr3t');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('isolates that waited for the lease holder longer than the token lives outside its refresh margin take its token: 1 token request', async () => {
  const lifetime = 4; // s; margin min(120 s, lifetime / 2) = 2 s
  probe.server.lifetime = lifetime;
  const { mf, names } = await probe.start({ instances: 3 });
  // The lease holder: this test, speaking the protocol as an isolate would; the three isolates wait for it.
  const granted = await probe.raw(mf, names[0]!, { v, type: 'acquire', wait: 0, lease: 60_000 });
  expect(granted.body).toMatchObject({ type: 'lease' });
  const waiting = Promise.all(names.map((name) => probe.get(mf, name, '/shared')));
  // Longer than the token's life outside its margin (2 s) by as much again: the waiters' acquires are long in.
  await sleep(lifetime * 1000);
  const token = await fetchTokenAsHolder(probe.server, probe.client);
  const fulfilled = await probe.raw(mf, names[0]!, { v, type: 'fulfil', lease: granted.body!.lease, token, now: Date.now() });
  expect(fulfilled.body).toMatchObject({ type: 'done', stored: true });
  const replies = await waiting;
  expect(replies).toEqual(names.map(() => ({ status: 200, token: token.accessToken, leader: expect.any(Boolean) as unknown })));
  expect(probe.server.stats.tokenRequests).toBe(1); // this test's own: no isolate fetched
});
