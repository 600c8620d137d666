import { expect, it } from 'vitest';
import { useProbeWorkers } from '../support/workerd.js';

// A sign-out in one isolate ends a refresh-token chain in every isolate: an isolate that shared the chain learns it
// from the coordinator the next time it needs a token, and never sends its refresh token again.

const probe = useProbeWorkers('edge-sign-out', 'cf-sign-out-s3cr3t');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('refresh-token grant: clear() in isolate 0 → isolate 1 gets login_required at its next refresh, with no token request', async () => {
  probe.server.lifetime = 2; // margin 1 s
  const { mf, names } = await probe.start({ instances: 3, bindings: { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) } });
  const first = await probe.get(mf, names[0]!, '/rotating');
  expect(first).toMatchObject({ status: 200 });
  expect(await probe.get(mf, names[1]!, '/rotating')).toMatchObject({ status: 200, token: first.token });
  expect((await (await mf.getWorker(names[0]!)).fetch('http://worker/clear?kind=rotating')).status).toBe(204);
  await sleep(1_100); // into the margin: isolate 1 asks the coordinator
  expect(await probe.get(mf, names[1]!, '/rotating')).toMatchObject({ status: 0, error: 'login_required' });
  expect(await probe.get(mf, names[1]!, '/rotating')).toMatchObject({ status: 0, error: 'login_required' });
  expect(probe.server.stats.tokenRequests).toBe(1);
  expect(probe.server.stats.refreshTokenReuse).toBe(0);
});

it('client credentials: clear() in isolate 0 → an isolate without a copy gets a token issued after the sign-out', async () => {
  const { mf, names } = await probe.start({ instances: 3 });
  const before = await probe.get(mf, names[0]!, '/shared');
  expect((await (await mf.getWorker(names[1]!)).fetch('http://worker/clear')).status).toBe(204);
  const after = await probe.get(mf, names[2]!, '/shared');
  expect(after).toMatchObject({ status: 200 });
  expect(after.token).not.toBe(before.token);
});
