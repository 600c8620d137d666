import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { PROTOCOL_VERSION as v } from '../../src/sharing/cloudflare/protocol.js';
import { fetchTokenAsHolder, useProbeWorkers } from '../support/workerd.js';

// A Durable Object restarts (deploy, eviction, a new workerd process) with its storage intact while isolates on other
// machines go on: the lease, the sign-out and a remembered Retry-After must survive it.

const probe = useProbeWorkers('edge-restart', 'cf-restart-s3cr3t');

/** Runs `test` with a Durable Object storage directory that outlives one Miniflare, and removes it afterwards. */
async function withStorage(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'shared-session-restart-'));
  try {
    await test(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

it('DO restarted mid-lease (deploy/eviction): no second holder while the first lives; a token requested before clear() is never stored after it', () =>
  withStorage(async (dir) => {
    const first = await probe.start({ persist: dir });
    const granted = await probe.raw(first.mf, first.names[0]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
    expect(granted.body).toMatchObject({ type: 'lease' });
    const lease = granted.body!.lease as string;
    const requestedBeforeSignOut = await fetchTokenAsHolder(probe.server, probe.client); // the holder's request is on its way

    // The Durable Object restarts (same storage); the holder, in another isolate, is alive with ~29 s of lease left.
    await probe.stop(first.mf);
    const second = await probe.start({ persist: dir });
    const meanwhile = await probe.raw(second.mf, second.names[0]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
    // Sign-out everywhere, then the holder's late fulfil.
    expect((await (await second.mf.getWorker(second.names[0]!)).fetch('http://worker/clear')).status).toBe(204);
    const fulfilled = await probe.raw(second.mf, second.names[0]!, { v, type: 'fulfil', lease, token: requestedBeforeSignOut });
    const after = await probe.get(second.mf, second.names[1]!, '/shared');

    // Expected: `busy` (the live lease), the pre-sign-out token refused, a fresh token after the sign-out.
    expect({
      acquireWhileHolderAlive: meanwhile.body?.type,
      storedAfterSignOut: fulfilled.body?.stored,
      servedPreSignOutToken: after.token === requestedBeforeSignOut.accessToken,
    }).toEqual({ acquireWhileHolderAlive: 'busy', storedAfterSignOut: false, servedPreSignOutToken: false });
  }));

it('a sign-out survives a restart: a lease granted before it is void, a refresh-token chain that began before it ends', () =>
  withStorage(async (dir) => {
    const bindings = { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) };
    const first = await probe.start({ persist: dir, bindings });
    const before = await probe.get(first.mf, first.names[1]!, '/rotating'); // isolate 1's chain starts
    expect(before).toMatchObject({ status: 200 });
    const message = { v, type: 'acquire', wait: 0, lease: 30_000, rejected: before.token };
    const granted = await probe.raw(first.mf, first.names[0]!, message, '?kind=rotating');
    expect(granted.body).toMatchObject({ type: 'lease' });
    expect((await (await first.mf.getWorker(first.names[0]!)).fetch('http://worker/clear?kind=rotating')).status).toBe(204);
    await probe.stop(first.mf);

    const second = await probe.start({ persist: dir, bindings });
    const now = Date.now();
    const late = { accessToken: 'requested-before-the-sign-out', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
    const fulfil = { v, type: 'fulfil', lease: granted.body!.lease, token: late };
    const fulfilled = await probe.raw(second.mf, second.names[0]!, fulfil, '?kind=rotating');
    // The chain's epoch as isolate 1 learnt it before the restart: the coordinator says that chain has ended.
    const resume = { v, type: 'acquire', wait: 0, lease: 30_000, epoch: granted.body!.epoch };
    const chain = await probe.raw(second.mf, second.names[0]!, resume, '?kind=rotating');
    expect({
      stored: fulfilled.body?.stored,
      epochChanged: fulfilled.body?.epoch !== granted.body!.epoch,
      chain: chain.body?.type,
    }).toEqual({ stored: false, epochChanged: true, chain: 'signed_out' });
    expect(probe.server.stats.refreshTokenReuse).toBe(0);
  }));

it('a Retry-After survives a restart: the new instance answers rate_limited with what is left of it, and fetches nothing', () =>
  withStorage(async (dir) => {
    probe.server.failNext(10_000, 429, { retryAfter: '60' });
    const first = await probe.start({ persist: dir });
    expect(await probe.get(first.mf, first.names[0]!, '/shared')).toMatchObject({ error: 'rate_limited' });
    await probe.stop(first.mf);

    const second = await probe.start({ persist: dir });
    const answer = await probe.raw(second.mf, second.names[1]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
    expect(answer.body).toMatchObject({ type: 'failed', failure: { code: 'rate_limited' } });
    const left = (answer.body!.failure as { retryAfter: number }).retryAfter;
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(60_000);
    expect(await probe.get(second.mf, second.names[1]!, '/shared')).toMatchObject({ error: 'rate_limited' });
    expect(probe.server.stats.tokenRequests).toBe(1);
  }));
