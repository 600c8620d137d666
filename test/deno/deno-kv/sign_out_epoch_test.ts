/**
 * `deno test --unstable-kv --allow-net=127.0.0.1 sign_out_epoch_test.ts`: a sign-out reaches every running session
 * even after the epoch record was wiped or forged (from the review of issue 27), and a stored Retry-After is not
 * stretched by a reader's clock. Several sessions on one in-memory KV, against a token endpoint served here.
 */
import assert from 'node:assert/strict';
import { clientCredentials, createSession, type Session } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';

const prefix = ['epoch'];
let issued = 0;
const token = (): Response => Response.json({ access_token: `at_${++issued}`, token_type: 'Bearer', expires_in: 3600 });
let answer: () => Response = token;
const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => undefined }, () => answer());
const tokenUrl = `http://127.0.0.1:${server.addr.port}/token`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Watched {
  readonly session: Session;
  readonly cleared: string[];
}

function session(kv: Deno.Kv, clockOffset = 0): Watched {
  const created = createSession({
    provider: clientCredentials({ tokenUrl, clientId: 'epoch-app', clientSecret: 'epoch-secret-51f0' }),
    sharing: denoKvSharing({ kv, prefix, pollInterval: 100 }),
    clock: { now: () => Date.now() + clockOffset },
  });
  const cleared: string[] = [];
  created.on('cleared', (origin) => cleared.push(origin));
  return { session: created, cleared };
}

async function epochKey(kv: Deno.Kv): Promise<Deno.KvKey> {
  const entries = await Array.fromAsync(kv.list({ prefix }));
  const known = entries.find((entry) => entry.key.at(-1) === 'token' || entry.key.at(-1) === 'epoch')!.key;
  return [...known.slice(0, -1), 'epoch'];
}

/** Two sign-outs by `a`: `b`, which holds a token, knows epoch 2 (counted) or a time. Returns b's token. */
async function signedOutTwice(a: Watched, b: Watched): Promise<string> {
  await b.session.getToken();
  await a.session.clear();
  await a.session.clear();
  await sleep(300); // three polls
  return (await b.session.getToken()).accessToken;
}

Deno.test('the epoch record deleted (a KV wipe), then a sign-out by a new session: it reaches every running session', async () => {
  const kv = await Deno.openKv(':memory:');
  const [a, b] = [session(kv), session(kv)];
  const before = await signedOutTwice(a, b);
  const clearedBefore = b.cleared.length;
  await kv.delete(await epochKey(kv));
  const c = session(kv); // knows no epoch: a counter would write 1 again
  await c.session.clear();
  await sleep(500); // five polls
  assert.ok(b.cleared.length > clearedBefore, 'b was not told of the sign-out');
  assert.notEqual((await b.session.getToken()).accessToken, before, 'b still hands out the token issued before the sign-out');
  await Promise.all([a, b, c].map((each) => each.session.close()));
  kv.close();
});

Deno.test('a sign-out written over a forged epoch (by a new session) reaches every running session', async () => {
  const kv = await Deno.openKv(':memory:');
  const [a, b] = [session(kv), session(kv)];
  const before = await signedOutTwice(a, b);
  const clearedBefore = b.cleared.length;
  await kv.set(await epochKey(kv), 'not an epoch');
  const c = session(kv);
  await c.session.clear();
  await sleep(500);
  assert.ok(b.cleared.length > clearedBefore, 'b was not told of the sign-out');
  assert.notEqual((await b.session.getToken()).accessToken, before, 'b still hands out the token issued before the sign-out');
  await Promise.all([a, b, c].map((each) => each.session.close()));
  kv.close();
});

Deno.test('the epoch record deleted with no sign-out after it: whether one was lost cannot be known, so it counts as one', async () => {
  const kv = await Deno.openKv(':memory:');
  const [a, b] = [session(kv), session(kv)];
  const before = await signedOutTwice(a, b);
  const clearedBefore = b.cleared.length;
  await kv.delete(await epochKey(kv));
  await sleep(500);
  assert.ok(b.cleared.length > clearedBefore, 'b did not treat the lost epoch as a sign-out');
  assert.notEqual((await b.session.getToken()).accessToken, before);
  await Promise.all([a, b].map((each) => each.session.close()));
  kv.close();
});

Deno.test('sign-outs by sessions whose clocks differ by 100 s still reach each other, both ways (epochs only grow)', async () => {
  const kv = await Deno.openKv(':memory:');
  const ahead = session(kv, 50_000);
  const behind = session(kv, -50_000);
  for (let round = 0; round < 3; round++) {
    const [first, second] = round % 2 === 0 ? [ahead, behind] : [behind, ahead];
    const held = (await second.session.getToken()).accessToken;
    const clearedBefore = second.cleared.length;
    await first.session.clear();
    await sleep(400);
    assert.equal(second.cleared.length, clearedBefore + 1, `round ${round}: the other session was not told`);
    assert.notEqual((await second.session.getToken()).accessToken, held);
  }
  await Promise.all([ahead, behind].map((each) => each.session.close()));
  kv.close();
});

Deno.test('Retry-After read by a session whose clock is 5 min behind: it waits the Retry-After, not Retry-After + skew', async () => {
  const kv = await Deno.openKv(':memory:');
  const writer = session(kv);
  const behind = session(kv, -5 * 60_000);
  answer = () => new Response('{"error":"slow_down"}', { status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' } });
  await writer.session.getToken().then(() => assert.fail('expected rate_limited'), (error) => assert.equal(error.code, 'rate_limited'));
  answer = token;
  const told = await behind.session.getToken().then(() => assert.fail('expected rate_limited'), (error) => error);
  assert.equal(told.code, 'rate_limited');
  assert.ok(told.retryAfter <= 1_000, `told to wait ${told.retryAfter} ms for a 1 s Retry-After`);
  await sleep(1_500); // the wait is over, whatever the clocks say
  const got = await behind.session.getToken().catch((error) => error);
  assert.ok(typeof got.accessToken === 'string', `after the Retry-After: ${got.code} (retryAfter ${got.retryAfter} ms)`);
  await Promise.all([writer, behind].map((each) => each.session.close()));
  kv.close();
});

Deno.test('cleanup', async () => {
  await server.shutdown();
});
