import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session } from '../../src/index.js';
import { redisSharing } from '../../src/redis.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The documented defaults against each other: `leaseTime` is 30 s, while the default provider chain (4 attempts ×
// 10 s timeout + backoff) takes ~41 s against a token endpoint that hangs. The holder renews its lease while it works,
// so the one chain runs alone. Two "processes" (own client, own redisSharing), every option left at its default.

let tokens: TokenServer;
let redis: RedisServer;
const open = { now: 0, max: 0, maxAt: 0 };
/** Each token request: the process that sent it, and [start, end] in s since the test started. */
const spans: Array<{ from: string; start: number; end: number | undefined }> = [];
let started = 0;

beforeAll(async () => {
  [tokens, redis] = await Promise.all([startTokenServer(), startRedisServer()]);
  // The token endpoint accepts the request and never answers (overloaded, or a network black hole).
  tokens.route((req, res, url) => {
    if (url.pathname !== '/token') return false;
    tokens.stats.tokenRequests++;
    if (++open.now > open.max) {
      open.max = open.now;
      open.maxAt = Date.now() - started;
    }
    const span = { from: String(req.headers['x-process']), start: (Date.now() - started) / 1000, end: undefined as number | undefined };
    spans.push(span);
    res.on('close', () => {
      open.now--;
      span.end = (Date.now() - started) / 1000;
    });
    return true;
  });
});
afterAll(async () => {
  await Promise.all([tokens.close(), redis.stop()]);
});

/** The fetch of one process: marks its token requests with its name. */
function tagged(name: string): typeof globalThis.fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('x-process', name);
    return fetch(input, { ...init, headers });
  };
}

it('defaults: the lock holder retrying against a hanging endpoint is never replaced: its 4 attempts one after another, nobody else', async () => {
  const { secret } = tokens.addClient('defaults', 'secret-of-defaults');
  const provider = (): ReturnType<typeof clientCredentials> =>
    clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: 'defaults', clientSecret: secret });
  const io = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  io.on('error', () => undefined);
  const node = await createClient({ url: redis.url }).on('error', () => undefined).connect();
  const sessions: Session[] = [
    createSession({ provider: provider(), sharing: redisSharing({ client: io }), fetch: tagged('A') }),
    createSession({ provider: provider(), sharing: redisSharing({ client: node }), fetch: tagged('B') }),
  ];
  try {
    started = Date.now();
    for (const session of sessions) session.getToken().catch(() => undefined);
    for (let waited = 0; waited < 36_000 && open.max < 2; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    // One request chain at a time while its holder is alive, past the 30 s lease: the holder's attempts at about
    // 0, 10, 20 and 31 s (10 s each, backoff between), the last one still open; none from the other process.
    const holder = spans[0]?.from;
    const requests = spans.map(({ from, start, end }) => `${from === holder ? 'holder' : 'other'} ${start.toFixed(1)}–${end === undefined ? 'open' : end.toFixed(1)} s`);
    const overlaps = spans.slice(1).filter((span, index) => spans[index]!.end === undefined || span.start < spans[index]!.end!);
    expect({
      maxConcurrent: open.max,
      atSecond: Math.round(open.maxAt / 1000),
      firstAtSecond: Math.round(spans[0]?.start ?? -1),
      attempts: spans.length,
      fromOthers: spans.filter((span) => span.from !== holder).length,
      overlaps: overlaps.length,
      lastOpen: spans.at(-1)?.end === undefined,
    }).toEqual({ maxConcurrent: 1, atSecond: 0, firstAtSecond: 0, attempts: 4, fromOthers: 0, overlaps: 0, lastOpen: true });
    expect(requests.every((request) => request.startsWith('holder'))).toBe(true);
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
    io.disconnect();
    node.destroy();
  }
}, 50_000);
