/**
 * `deno test --unstable-kv --allow-net=127.0.0.1 clock_skew_test.ts`: a token stored in Deno KV by an isolate whose
 * clock is ahead of the reader's (from the review of issue 27). Several sessions on one in-memory KV, each with its
 * own clock (`clock` option), against a token endpoint served here, whose clock is the true one: a token's true age
 * is `Date.now()` minus when the endpoint issued it.
 *
 * The rule: a running isolate never hands out a token older than its lifetime counted, on its own clock, from when it
 * first saw it, and never moves a token's expiry forward. With equal clocks nothing changes.
 */
import assert from 'node:assert/strict';
import { clientCredentials, createSession, type Session, type Token } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';

const LIFETIME = 4_000;
const MARGIN = 1_000;
const SKEW = 5 * 60_000;
let issued = 0;
/** When the endpoint issued each access token (the true clock). */
const issuedAt = new Map<string, number>();
const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => undefined }, () => {
  const accessToken = `at_${++issued}`;
  issuedAt.set(accessToken, Date.now());
  return Response.json({ access_token: accessToken, token_type: 'Bearer', expires_in: LIFETIME / 1_000 });
});
const tokenUrl = `http://127.0.0.1:${server.addr.port}/token`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function session(kv: Deno.Kv, clockOffset: number): Session {
  return createSession({
    provider: clientCredentials({ tokenUrl, clientId: 'skew-app', clientSecret: 'skew-secret-93ad' }),
    sharing: denoKvSharing({ kv, prefix: ['skew'], pollInterval: 100 }),
    clock: { now: () => Date.now() + clockOffset },
    refreshBeforeExpiry: MARGIN,
  });
}

interface HandedOut {
  readonly token: Token;
  /** True time (Date.now) when getToken resolved. */
  readonly at: number;
  /** The token's true age then: how long since the endpoint issued it. */
  readonly age: number;
}

async function handOut(session: Session): Promise<HandedOut> {
  const token = await session.getToken();
  const at = Date.now();
  return { token, at, age: at - issuedAt.get(token.accessToken)! };
}

/**
 * Every hand-out of one token carries the same expiry (never moved forward), at most its lifetime after this session
 * first handed it out (its first sight was before that): both in the session's own clock (`offset` from the true one).
 */
function assertExpiryHeld(handed: readonly HandedOut[], offset: number): void {
  const byToken = Map.groupBy(handed, (each) => each.token.accessToken);
  for (const [accessToken, each] of byToken) {
    const expiries = new Set(each.map((one) => one.token.expiresAt));
    assert.equal(expiries.size, 1, `${accessToken}: its expiry moved (${[...expiries].map((at) => at - each[0]!.at - offset).join(', ')} ms after its first hand-out)`);
    assert.ok(each[0]!.token.expiresAt <= each[0]!.at + offset + LIFETIME, `${accessToken}: expires later than its lifetime after it was first handed out`);
  }
}

const ages = (handed: readonly HandedOut[]): string => handed.map((each) => `${each.token.accessToken}@${each.age}`).join(', ');

Deno.test('a token stored by a session whose clock is 5 min ahead (more than the refresh margin) is never handed out expired', async () => {
  const kv = await Deno.openKv(':memory:');
  const ahead = session(kv, SKEW);
  const reader = session(kv, 0);
  await ahead.getToken();
  await ahead.close();
  const handed: HandedOut[] = [];
  for (let second = 0; second < 7; second++) {
    handed.push(await handOut(reader));
    await sleep(1_000);
  }
  console.log(`ages of the tokens handed out (ms, ${LIFETIME} ms tokens): ${ages(handed)}`);
  assert.ok(handed.every((each) => each.age < LIFETIME), `a token handed out expired: ${ages(handed)}`);
  assertExpiryHeld(handed, 0);
  // The writer's token was replaced ahead of its expiry (counted from first sight), by the reader.
  assert.ok(new Set(handed.map((each) => each.token.accessToken)).size >= 2, ages(handed));
  await reader.close();
  kv.close();
});

Deno.test('both alive, one clock 5 min ahead, both calling every 250 ms for 8 s: neither hands out an expired token, no expiry moves forward', async () => {
  const kv = await Deno.openKv(':memory:');
  const sessions = [
    { session: session(kv, 0), offset: 0, handed: [] as HandedOut[] },
    { session: session(kv, SKEW), offset: SKEW, handed: [] as HandedOut[] },
  ];
  const requestsBefore = issued;
  const end = Date.now() + 8_000;
  await Promise.all(
    sessions.map(async ({ session, handed }) => {
      while (Date.now() < end) {
        handed.push(await handOut(session));
        await sleep(250);
      }
    }),
  );
  for (const { session, offset, handed } of sessions) {
    assert.ok(handed.every((each) => each.age < LIFETIME), `clock ${offset} ms: a token handed out expired: ${ages(handed)}`);
    assertExpiryHeld(handed, offset);
    await session.close();
  }
  // Each judges the other's tokens by their first sight (ahead's tokens) or as old (the correct clock's, seen from
  // ahead): more requests than one per lifetime, never an expired token. Told, not asserted.
  console.log(`clocks 5 min apart, 8 s of 4 s tokens: ${issued - requestsBefore} token requests`);
  kv.close();
});

Deno.test('equal clocks: a reader hands out the stored token with the writer\'s own times, however late it first sees it', async () => {
  const kv = await Deno.openKv(':memory:');
  const writer = session(kv, 0);
  const written = await writer.getToken();
  await writer.close();
  await sleep(1_500);
  const reader = session(kv, 0);
  const read = await reader.getToken();
  assert.equal(read.accessToken, written.accessToken);
  assert.equal(read.issuedAt, written.issuedAt);
  assert.equal(read.expiresAt, written.expiresAt);
  await reader.close();
  kv.close();
});

Deno.test('a reader whose clock is 5 min behind the writer: the stored token keeps the expiry of its first sight at every read', async () => {
  const kv = await Deno.openKv(':memory:');
  const writer = session(kv, 0);
  await writer.getToken();
  const behind = session(kv, -SKEW);
  const handed: HandedOut[] = [];
  for (let read = 0; read < 6; read++) {
    handed.push(await handOut(behind));
    await sleep(400);
  }
  await writer.close();
  console.log(`clock 5 min behind, ages of the tokens handed out (ms): ${ages(handed)}`);
  assert.ok(handed.every((each) => each.age < LIFETIME), ages(handed));
  assertExpiryHeld(handed, -SKEW);
  await behind.close();
  kv.close();
});

Deno.test('a read of an older token record arriving late (a watch on its way while the record changed) does not bring that token back', async () => {
  const kv = await Deno.openKv(':memory:');
  // The reader's KV is the real one, but its watch delivers what the test pushes: here, a stale read.
  let push: (entries: Deno.KvEntryMaybe<unknown>[]) => void = () => undefined;
  const watched: Pick<Deno.Kv, 'getMany' | 'atomic'> & { watch(): ReadableStream<Deno.KvEntryMaybe<unknown>[]> } = {
    getMany: kv.getMany.bind(kv) as Deno.Kv['getMany'],
    atomic: kv.atomic.bind(kv),
    watch: () => new ReadableStream({ start: (controller) => void (push = (entries) => controller.enqueue(entries)) }),
  };
  const ahead = session(kv, SKEW);
  const first = await ahead.getToken();
  const keys = (await Array.fromAsync(kv.list({ prefix: ['skew'] }))).map((entry) => entry.key);
  const key = (name: string): Deno.KvKey => [...keys[0]!.slice(0, -1), name];
  const stale = await kv.getMany([key('epoch'), key('token'), key('lease'), key('failure')]);
  const reader = createSession({
    provider: clientCredentials({ tokenUrl, clientId: 'skew-app', clientSecret: 'skew-secret-93ad' }),
    sharing: denoKvSharing({ kv: watched as unknown as Deno.Kv, prefix: ['skew'], pollInterval: 100 }),
    refreshBeforeExpiry: MARGIN,
  });
  assert.equal((await reader.getToken()).accessToken, first.accessToken);
  const second = await ahead.getToken({ forceRefresh: true });
  await ahead.close();
  await sleep(300); // three polls: the reader has the second token
  assert.equal((await reader.getToken()).accessToken, second.accessToken);
  const held = await reader.getToken();
  push(stale);
  await sleep(50);
  const after = await reader.getToken();
  assert.equal(after.accessToken, second.accessToken, 'the older token came back');
  assert.equal(after.expiresAt, held.expiresAt, 'the expiry of the newer token moved');
  await reader.close();
  kv.close();
});

Deno.test('cleanup', async () => {
  await server.shutdown();
});
