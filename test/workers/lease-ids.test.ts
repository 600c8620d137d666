import { expect, it } from 'vitest';
import { PROTOCOL_VERSION as v } from '../../src/sharing/cloudflare/protocol.js';
import { useProbeWorkers } from '../support/workerd.js';

// Fencing in real workerd: only the lease the coordinator granted (and still considers current) may store a token,
// and what it stores is bounded by the coordinator's clock.

const probe = useProbeWorkers('edge-lease-ids', 'cf-lease-ids-s3cr3t');

it('a fulfil with a made-up lease id is refused, and never served to any isolate', async () => {
  const { mf, names } = await probe.start();
  const now = Date.now();
  const forged = { accessToken: 'forged-token', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
  const answer = await probe.raw(mf, names[0]!, { v, type: 'fulfil', lease: 'never-granted.1', token: forged });
  const served = await probe.get(mf, names[1]!, '/shared');
  // Expected: refused (no such lease was ever granted).
  expect({ stored: answer.body?.stored, served: served.token, requests: probe.server.stats.tokenRequests }).toEqual({
    stored: false,
    served: expect.not.stringMatching(/^forged-token$/) as unknown as string,
    requests: 1,
  });
});

it('a lease that expired and was granted again is refused; so is a renewal of it', async () => {
  const { mf, names } = await probe.start();
  const first = await probe.raw(mf, names[0]!, { v, type: 'acquire', wait: 0, lease: 200 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const second = await probe.raw(mf, names[1]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
  expect([first.body?.type, second.body?.type]).toEqual(['lease', 'lease']);
  const now = Date.now();
  const late = { accessToken: 'late-token', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
  expect((await probe.raw(mf, names[0]!, { v, type: 'renew', lease: first.body!.lease })).body).toMatchObject({ stored: false });
  expect((await probe.raw(mf, names[0]!, { v, type: 'fulfil', lease: first.body!.lease, token: late })).body).toMatchObject({ stored: false });
  expect((await probe.raw(mf, names[0]!, { v, type: 'renew', lease: second.body!.lease })).body).toMatchObject({ stored: true });
});

it('a token whose issuedAt lies in the future is stored with the coordinator clock, its lifetime unchanged', async () => {
  const { mf, names } = await probe.start();
  const granted = await probe.raw(mf, names[0]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
  const future = Date.now() + 365 * 86_400_000;
  const token = { accessToken: 'from-the-future', tokenType: 'Bearer', issuedAt: future, expiresAt: future + 60_000 };
  const before = Date.now();
  expect((await probe.raw(mf, names[0]!, { v, type: 'fulfil', lease: granted.body!.lease, token })).body).toMatchObject({ stored: true });
  const after = Date.now();
  const read = await probe.raw(mf, names[1]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
  const stored = read.body!.token as { issuedAt: number; expiresAt: number };
  expect(stored.issuedAt).toBeGreaterThanOrEqual(before - 1_000);
  expect(stored.issuedAt).toBeLessThanOrEqual(after);
  expect(stored.expiresAt - stored.issuedAt).toBe(60_000);
});
