import { expect, it } from 'vitest';
import { useProbeWorkers } from '../support/workerd.js';

// Isolates whose clocks run 5 minutes ahead of and behind the coordinator's (the `clock` option: the probe's
// `?skew=`), as on machines that disagree. A token's times are epoch ms of the clock that wrote them, so `fulfil`
// and the `token` answer carry the sender's `now` and the receiver reads the token in its own clock. Measured before
// that: an isolate 5 min ahead took every token fetched elsewhere for expired and fetched its own (5–6 requests in
// the 7 s run below instead of 4; in the second test, 2 instead of 1).

const probe = useProbeWorkers('edge-clock-skew', 'cf-clock-skew-s3cr3t');
const MINUTES_5 = 5 * 60_000;

it('isolates 5 min ahead, on time and 5 min behind, 3 s tokens for 7 s: one request per refresh, every call served, none refused', async () => {
  probe.server.lifetime = 3; // with a 1 s margin: refreshed about 0, 2, 4 and 6 s in
  const { mf, names } = await probe.start({ instances: 3 });
  const skews = [MINUTES_5, 0, -MINUTES_5];
  const end = Date.now() + 7_000;
  const results = await Promise.all(
    names.map(async (name, index) => {
      const replies = [];
      while (Date.now() < end) {
        replies.push(await probe.get(mf, name, `/shared?margin=1000&skew=${skews[index]}`));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return replies;
    }),
  );
  const replies = results.flat();
  expect(replies.filter((reply) => reply.status !== 200)).toEqual([]);
  expect(probe.server.stats.apiUnauthorized).toBe(0);
  expect(probe.server.stats.tokenRequests).toBeGreaterThanOrEqual(3);
  expect(probe.server.stats.tokenRequests).toBeLessThanOrEqual(5);
  // Every isolate saw every token: none fetched one of its own beside the shared one.
  expect(new Set(replies.map((reply) => reply.token)).size).toBe(probe.server.stats.tokenRequests);
  expect(results.every((list) => list.length > 20)).toBe(true);
});

it('a token fetched by an isolate 5 min behind is fresh for one 5 min ahead and one on time: 1 request', async () => {
  probe.server.lifetime = 60; // far shorter than the skew: compared as they are, the times would say expired
  const { mf, names } = await probe.start({ instances: 3 });
  const behind = await probe.get(mf, names[0]!, `/shared?margin=10000&skew=${-MINUTES_5}`);
  const ahead = await probe.get(mf, names[1]!, `/shared?margin=10000&skew=${MINUTES_5}`);
  const onTime = await probe.get(mf, names[2]!, '/shared?margin=10000');
  expect(behind).toMatchObject({ status: 200 });
  expect(ahead).toMatchObject({ status: 200, token: behind.token });
  expect(onTime).toMatchObject({ status: 200, token: behind.token });
  expect(probe.server.stats.tokenRequests).toBe(1);
});
