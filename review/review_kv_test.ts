/**
 * `deno test --unstable-kv --allow-net review_kv_test.ts`: adversarial checks of `denoKvSharing` in one Deno process,
 * several sessions on one in-memory KV, against a token endpoint served here (Deno.serve). Asserted with node:assert.
 */
import assert from 'node:assert/strict';
import { clientCredentials, createSession, type Session } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';

const prefix = ['review'];
let issued = 0;
let answer: () => Response = () => Response.json({ access_token: `at_${++issued}`, token_type: 'Bearer', expires_in: 3600 });
const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => undefined }, () => answer());
const tokenUrl = `http://127.0.0.1:${server.addr.port}/token`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function session(kv: Deno.Kv, clockOffset = 0): Session {
  return createSession({
    provider: clientCredentials({ tokenUrl, clientId: 'review-app', clientSecret: 'review-secret-51f0' }),
    sharing: denoKvSharing({ kv, prefix, pollInterval: 100 }),
    clock: { now: () => Date.now() + clockOffset },
  });
}

async function epochKey(kv: Deno.Kv): Promise<Deno.KvKey> {
  const entries = await Array.fromAsync(kv.list({ prefix }));
  const token = entries.find((entry) => entry.key.at(-1) === 'token' || entry.key.at(-1) === 'epoch')!.key;
  return [...token.slice(0, -1), 'epoch'];
}

Deno.test('the epoch record deleted (a KV wipe) or repaired low: a later sign-out still reaches every running session', async () => {
  const kv = await Deno.openKv(':memory:');
  const a = session(kv);
  const b = session(kv);
  await b.getToken();
  // Two sign-outs: b knows epoch 2.
  await a.clear();
  await a.clear();
  await sleep(300);
  const before = (await b.getToken()).accessToken;
  // Someone deletes the app's keys (or the epoch record is lost); a session started afterwards signs out.
  await kv.delete(await epochKey(kv));
  const c = session(kv);
  await c.clear();
  await sleep(500); // five polls
  const after = (await b.getToken()).accessToken;
  assert.notEqual(after, before, 'b still hands out the token issued before the sign-out');
  await Promise.all([a.close(), b.close(), c.close()]);
  kv.close();
});

Deno.test('a sign-out written over an unreadable epoch (by a new session) reaches every running session', async () => {
  const kv = await Deno.openKv(':memory:');
  const a = session(kv);
  const b = session(kv);
  await b.getToken();
  await a.clear();
  await sleep(300);
  const before = (await b.getToken()).accessToken;
  await kv.set(await epochKey(kv), 'not an epoch');
  const c = session(kv);
  await c.clear();
  await sleep(500); // five polls
  assert.notEqual((await b.getToken()).accessToken, before, 'b still hands out the token issued before the sign-out');
  await Promise.all([a.close(), b.close(), c.close()]);
  kv.close();
});

Deno.test('Retry-After read by a session whose clock is 5 min behind: it waits the Retry-After, not Retry-After + skew', async () => {
  const kv = await Deno.openKv(':memory:');
  const writer = session(kv);
  const behind = session(kv, -5 * 60_000);
  answer = () => new Response('{"error":"slow_down"}', { status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' } });
  await writer.getToken().then(() => assert.fail('expected rate_limited'), (error) => assert.equal(error.code, 'rate_limited'));
  answer = () => Response.json({ access_token: `at_${++issued}`, token_type: 'Bearer', expires_in: 3600 });
  const told = await behind.getToken().then(() => assert.fail('expected rate_limited'), (error) => error);
  assert.equal(told.code, 'rate_limited');
  assert.ok(told.retryAfter <= 1_000, `told to wait ${told.retryAfter} ms for a 1 s Retry-After`);
  await sleep(1_500); // the wait is over, whatever the clocks say
  const token = await behind.getToken().catch((error) => error);
  assert.ok(typeof token.accessToken === 'string', `after the Retry-After: ${token.code} (retryAfter ${token.retryAfter} ms)`);
  await Promise.all([writer.close(), behind.close()]);
  kv.close();
});

Deno.test('cleanup', async () => {
  await server.shutdown();
});
