import { expect, it } from 'vitest';
import { useProbeWorkers } from '../support/workerd.js';

/**
 * Durable Object coordinator (workerd via miniflare): refresh answers that arrive after their access tokens expired
 * keep the chain. The lease holder asks again with each late answer's refresh token (at most twice), then fails
 * `token_expired` and `fulfil`s the expired token with the newest refresh token: stored for the chain, handed out to
 * nobody; the next isolate continues from it. The token server rotates and counts reuses of spent refresh tokens.
 */
const probe = useProbeWorkers('edge-late-answer', 'cf-late-answer-s3cr3t');

it('every answer late: 3 requests, token_expired, no expired token handed out; then the other isolate continues the chain: 0 reuse', async () => {
  probe.server.lifetime = 1;
  probe.server.latency = 1_500;
  const { mf, names } = await probe.start({ instances: 2, bindings: { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) } });
  const late = await probe.get(mf, names[0]!, '/rotating');
  expect(late).toMatchObject({ error: 'token_expired' });
  expect(probe.server.stats).toMatchObject({ tokenRequests: 3, refreshTokenReuse: 0 });

  probe.server.lifetime = 60;
  probe.server.latency = 0;
  const next = await probe.get(mf, names[1]!, '/rotating');
  expect(next).toMatchObject({ status: 200 });
  expect(await probe.get(mf, names[0]!, '/rotating')).toMatchObject({ status: 200, token: next.token });
  expect(probe.server.stats).toMatchObject({ tokenRequests: 4, refreshTokenReuse: 0 });
});
