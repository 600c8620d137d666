import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { hashKey } from '../../src/core/digest.js';
import { PROTOCOL_VERSION as v } from '../../src/sharing/cloudflare/protocol.js';
import { useProbeWorkers } from '../support/workerd.js';

// A refresh-token chain shared through the Durable Object rotates `env.REFRESH_TOKEN` away at its first refresh. After
// the chain ends (a sign-out, or the provider refusing the chain's token), the coordinator keeps no refresh token, and
// an isolate that never was on the chain (a brand-new isolate after a deploy, an eviction, a scale-out) would start
// again from `env.REFRESH_TOKEN` — spent long ago. The rule: a spent refresh token is sent at most once, ever. The
// coordinator remembers the starts (digests of the initial refresh tokens) of the chains that ended, and signs out an
// isolate that would start one of them again; a new `REFRESH_TOKEN` has a new digest and starts a new chain.
// (Found by a review: every new isolate sent the spent token again, 6 sends for 6 new isolates.)

const probe = useProbeWorkers('edge-review-new-isolate', 'cf-review-new-isolate-s3cr3t');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'shared-session-review-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('after the chain ended, brand-new isolates do not each send the spent env.REFRESH_TOKEN again', async () => {
  probe.server.lifetime = 2; // margin 1 s
  const bindings = { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) };
  const first = await probe.start({ instances: 2, persist: dir, bindings });
  expect(await probe.get(first.mf, first.names[0]!, '/rotating')).toMatchObject({ status: 200 }); // env token rotated
  expect((await (await first.mf.getWorker(first.names[0]!)).fetch('http://worker/clear?kind=rotating')).status).toBe(204);
  await probe.stop(first.mf);
  probe.server.resetStats();

  // Three deploys (or evictions): brand-new isolates, same Durable Object storage, same env.
  const replies = [];
  for (let deploy = 0; deploy < 3; deploy++) {
    const next = await probe.start({ instances: 2, persist: dir, bindings });
    for (const name of next.names) replies.push(await probe.get(next.mf, name, '/rotating'));
    await probe.stop(next.mf);
  }
  expect(replies.map((reply) => reply.error)).not.toContain(undefined);
  expect({ spentRefreshTokenSends: probe.server.stats.refreshTokenReuse }).toEqual({ spentRefreshTokenSends: expect.toBeOneOf([0, 1]) });
}, 120_000);

it('an isolate without an epoch that waited for a lease ending the chain (spent) is not granted a lease: it sends nothing', async () => {
  probe.server.lifetime = 2; // margin 1 s
  const initial = probe.server.issueRefreshToken(probe.client.id);
  const { mf, names } = await probe.start({ instances: 2, bindings: { REFRESH_TOKEN: initial } });
  const first = await probe.get(mf, names[0]!, '/rotating'); // the chain starts: `initial` is rotated away
  expect(first).toMatchObject({ status: 200 });

  // A holder takes the lease with the chain's refresh token; a brand-new isolate (no epoch, starting from `initial`)
  // waits for it; the holder's refresh token is refused, and it abandons the lease with `spent`.
  const holder = await probe.raw(mf, names[0]!, { v, type: 'acquire', rejected: first.token, wait: 0, lease: 20_000 }, '?kind=rotating');
  expect(holder.body).toMatchObject({ type: 'lease', refreshToken: expect.stringMatching(/^rt_/) });
  const waiter = probe.raw(mf, names[1]!, { v, type: 'acquire', rejected: first.token, wait: 20_000, lease: 20_000, start: hashKey(initial) }, '?kind=rotating');
  await sleep(1_000); // the waiter is at the coordinator (if it came later, the ended chain's start signs it out all the same)
  const failure = { code: 'invalid_grant', message: 'The refresh token was refused', status: 400, oauthError: 'invalid_grant' };
  const abandoned = await probe.raw(mf, names[0]!, { v, type: 'abandon', lease: holder.body!.lease, failure, spent: true }, '?kind=rotating');
  expect(abandoned.body).toMatchObject({ type: 'done' });
  // Observed before the fix: woken by the sign-out before the failure was recorded, it was granted a lease (without
  // a refresh token), and its isolate sent the spent `initial`.
  expect((await waiter).body).toMatchObject({ type: expect.toBeOneOf(['failed', 'signed_out']) });

  // And a brand-new session of that isolate (it never was on the chain) sends nothing either, now or later.
  await sleep(1_100); // every token of the chain is inside the margin
  probe.server.resetStats();
  const replies = [await probe.get(mf, names[1]!, '/rotating'), await probe.get(mf, names[1]!, '/rotating')];
  expect(replies.map((reply) => reply.error)).toEqual(['login_required', 'login_required']);
  expect(probe.server.stats.tokenRequests).toBe(0);
});

it('a new REFRESH_TOKEN after a sign-out starts a new chain on the same coordinator (an app-chosen key), the old one stays spent', async () => {
  probe.server.lifetime = 2; // margin 1 s
  const route = '/rotating?key=user-42'; // the app names the credential, so every REFRESH_TOKEN meets the same coordinator
  const old = { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) };
  const first = await probe.start({ instances: 2, persist: dir, bindings: old });
  expect(await probe.get(first.mf, first.names[0]!, route)).toMatchObject({ status: 200 });
  expect((await (await first.mf.getWorker(first.names[0]!)).fetch('http://worker/clear?kind=rotating&key=user-42')).status).toBe(204);
  await probe.stop(first.mf);
  probe.server.resetStats();

  // A deploy with the same env: the old chain's initial token is spent, nobody sends it.
  const same = await probe.start({ instances: 2, persist: dir, bindings: old });
  expect((await probe.get(same.mf, same.names[0]!, route)).error).toBe('login_required');
  await probe.stop(same.mf);
  expect(probe.server.stats.tokenRequests).toBe(0);

  // A deploy with a new REFRESH_TOKEN (the user signed in again): a new chain, one token request for both isolates.
  const renewed = await probe.start({ instances: 2, persist: dir, bindings: { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) } });
  const replies = [await probe.get(renewed.mf, renewed.names[0]!, route), await probe.get(renewed.mf, renewed.names[1]!, route)];
  expect(replies).toMatchObject([{ status: 200 }, { status: 200, token: replies[0]!.token }]);
  expect(probe.server.stats).toMatchObject({ tokenRequests: 1, refreshTokenReuse: 0 });
}, 120_000);

it('a holder that vanished with the initial refresh token: that start is granted once more, never a third time', async () => {
  const { mf, names } = await probe.start({ instances: 1, bindings: { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) } });
  const start = hashKey('rt_never-sent-here');
  const acquire = { v, type: 'acquire', wait: 0, lease: 300, start };
  // No chain is stored: the first holder would send its initial refresh token, and vanishes (its lease lapses).
  expect((await probe.raw(mf, names[0]!, acquire, '?kind=rotating')).body).toMatchObject({ type: 'lease' });
  await sleep(400);
  // It may have died before sending it: once more.
  expect((await probe.raw(mf, names[0]!, acquire, '?kind=rotating')).body).toMatchObject({ type: 'lease' });
  await sleep(400);
  // Two holders vanished with it: it may be spent, and the chain from it ends instead of a third send.
  expect((await probe.raw(mf, names[0]!, acquire, '?kind=rotating')).body).toMatchObject({ type: 'signed_out' });
  expect((await probe.raw(mf, names[0]!, acquire, '?kind=rotating')).body).toMatchObject({ type: 'signed_out' });
  // Another start (a new initial refresh token) is a new chain.
  expect((await probe.raw(mf, names[0]!, { ...acquire, start: hashKey('rt_new') }, '?kind=rotating')).body).toMatchObject({ type: 'lease' });
});
