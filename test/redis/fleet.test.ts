import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { clientCredentials } from '../../src/index.js';
import { keysFor } from '../../src/sharing/redis/protocol.js';
import { type FleetProcess, startFleet, stopFleet } from '../support/redis-fleet.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';
import type { WorkerConfig } from '../support/redis-worker.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// Several real Node processes (each its own `redis` or `ioredis` client) against one real redis-server and the real
// token server: what a fleet of servers behind a load balancer does.

let redis: RedisServer;
let tokens: TokenServer;
let monitor: ChildProcess;
let monitored = '';
let fleet: FleetProcess[] = [];
const secrets: string[] = [];
let clientNumber = 0;

beforeAll(async () => {
  [redis, tokens] = await Promise.all([startRedisServer(), startTokenServer()]);
  // Every command Redis runs (and so every message published), for the no-secret check at the end.
  monitor = spawn('/usr/bin/redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'monitor']);
  monitor.stdout?.on('data', (chunk: Buffer) => (monitored += chunk.toString()));
});

afterAll(async () => {
  monitor.kill();
  await Promise.all([redis.stop(), tokens.close()]);
});

beforeEach(async () => {
  tokens.reset();
  await redis.cli('FLUSHALL');
});

afterEach(async () => {
  await stopFleet(fleet);
  fleet = [];
});

/** A new client per test, so that tests never share a credential key. */
function config(library: 'redis' | 'ioredis', extra: Partial<WorkerConfig> = {}): WorkerConfig {
  const { id, secret } = tokens.addClient(`fleet-${++clientNumber}`);
  secrets.push(secret);
  return { redisUrl: redis.url, library, tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, ...extra };
}

function tokenKey(worker: WorkerConfig): string {
  const { key } = clientCredentials({ tokenUrl: worker.tokenUrl, clientId: worker.clientId, clientSecret: worker.clientSecret });
  return keysFor('shared-session:', key).token;
}

/** Waits until a process has started its token request and the token server has received it; returns it. */
async function requestInFlight(): Promise<FleetProcess> {
  for (let waited = 0; waited < 10_000; waited += 10) {
    const fetching = fleet.filter((member) => member.events.some((event) => event.event === 'fetching'));
    if (fetching.length === 1 && tokens.stats.tokenRequests === 1) return fetching[0]!;
    expect(fetching.length).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no token request in flight');
}

interface Many {
  tokens: string[];
  errors: string[];
}

it('4 processes × 250 concurrent getToken (node-redis and ioredis mixed) → 1 token request', async () => {
  const base = config('redis');
  fleet = await startFleet(4, (index) => ({ ...base, library: index % 2 === 0 ? 'redis' : 'ioredis' }));
  tokens.latency = 200;
  const results = await Promise.all(fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 250 })));
  const all = results.flatMap((result) => result.tokens);
  expect(results.flatMap((result) => result.errors)).toEqual([]);
  expect(all).toHaveLength(1000);
  expect(new Set(all).size).toBe(1);
  expect(tokens.stats.tokenRequests).toBe(1);
  expect(tokens.isValid(all[0]!)).toBe(true);
  // A second round is served from memory or Redis: still one request.
  await Promise.all(fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 10 })));
  expect(tokens.stats.tokenRequests).toBe(1);
});

it('the lock holder killed mid-fetch: another process takes over after the lease, once', async () => {
  const base = config('ioredis', { sharing: { leaseTime: 2_000, pollInterval: 200 } });
  fleet = await startFleet(4, base);
  tokens.latency = 800;
  const asked = fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 50 }));
  for (const answer of asked) answer.catch(() => undefined); // the killed one's never comes
  const holder = await requestInFlight();
  const started = Date.now();
  holder.kill('SIGKILL');
  const others = fleet.filter((member) => member !== holder);
  const results = await Promise.all(asked.filter((_, index) => fleet[index] !== holder));
  const elapsed = Date.now() - started;
  const all = results.flatMap((result) => result.tokens);
  expect(results.flatMap((result) => result.errors)).toEqual([]);
  expect(all).toHaveLength(150);
  expect(new Set(all).size).toBe(1);
  // The killed request, and exactly one takeover once its 2 s lease expired.
  expect(tokens.stats.tokenRequests).toBe(2);
  expect(elapsed).toBeGreaterThanOrEqual(1_000);
  expect(elapsed).toBeLessThan(10_000);
  // Within the token's lifetime nobody asks again.
  const again = await Promise.all(others.map((member) => member.request<Many>({ cmd: 'getMany', count: 20 })));
  expect(new Set(again.flatMap((result) => result.tokens))).toEqual(new Set(all));
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('the lock holder stopped (SIGSTOP) mid-fetch is bounded like a killed one: taken over after the lease, once', async () => {
  // Alive but silent: it renews nothing, so its lease runs out as a dead holder's does (leaseTime, then one poll).
  const leaseTime = 2_000;
  const base = config('redis', { sharing: { leaseTime, pollInterval: 200 } });
  fleet = await startFleet(3, base);
  tokens.latency = 800;
  const asked = fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 20 }));
  const holder = await requestInFlight();
  const started = Date.now();
  holder.kill('SIGSTOP');
  const results = await Promise.all(asked.filter((_, index) => fleet[index] !== holder));
  const elapsed = Date.now() - started;
  holder.kill('SIGCONT');
  await asked[fleet.indexOf(holder)];
  console.warn(`fleet: a stopped lock holder was taken over after ${elapsed} ms (leaseTime ${leaseTime} ms)`);
  const all = results.flatMap((result) => result.tokens);
  expect(results.flatMap((result) => result.errors)).toEqual([]);
  expect(new Set(all).size).toBe(1);
  // The stopped request, and exactly one takeover once its lease expired: the bound of a dead holder.
  expect(tokens.stats.tokenRequests).toBe(2);
  expect(elapsed).toBeGreaterThanOrEqual(leaseTime - 1_000);
  expect(elapsed).toBeLessThan(leaseTime + 8_000);
});

it('a holder paused past its lease cannot overwrite the newer token (fencing)', async () => {
  const base = config('redis', { sharing: { leaseTime: 1_500, pollInterval: 200 } });
  fleet = await startFleet(2, base);
  tokens.latency = 300;
  const asked = fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 5 }));
  const holder = await requestInFlight();
  holder.kill('SIGSTOP');
  const other = fleet.find((member) => member !== holder)!;
  const newer = (await asked[fleet.indexOf(other)]!).tokens[0]!;
  expect(tokens.stats.tokenRequests).toBe(2);
  expect(await redis.cli('GET', tokenKey(base))).toContain(newer);
  holder.kill('SIGCONT');
  // The late holder's own callers get its (valid) token; Redis keeps the newer one.
  const late = (await asked[fleet.indexOf(holder)]!).tokens;
  expect(late).toHaveLength(5);
  expect(tokens.isValid(late[0]!)).toBe(true);
  expect(await redis.cli('GET', tokenKey(base))).toContain(newer);
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('short-lived tokens across 3 processes for 7 s: one request per refresh, no failed call', async () => {
  // 3 s tokens refreshed 1 s ahead: every process's timer fires at about the same time; the lock lets one fetch.
  const base = config('redis', { refreshBeforeExpiry: 1_000 });
  fleet = await startFleet(3, (index) => ({ ...base, library: index === 1 ? 'ioredis' : 'redis' }));
  tokens.lifetime = 3;
  tokens.latency = 50;
  const results = await Promise.all(
    fleet.map((member) => member.request<{ calls: number; tokens: string[]; errors: string[] }>({ cmd: 'loop', duration: 7_000, every: 25 })),
  );
  expect(results.flatMap((result) => result.errors)).toEqual([]);
  // Requests at about 0, 2, 4 and 6 s: 4 (5 if the last refresh lands just inside the window).
  expect(tokens.stats.tokenRequests).toBeGreaterThanOrEqual(3);
  expect(tokens.stats.tokenRequests).toBeLessThanOrEqual(5);
  const seen = new Set(results.flatMap((result) => result.tokens));
  expect(seen.size).toBe(tokens.stats.tokenRequests);
  expect(results.every((result) => result.calls > 50)).toBe(true);
}, 30_000);

it('clear() in one process signs out the others and deletes the token in Redis', async () => {
  const base = config('ioredis');
  fleet = await startFleet(3, (index) => ({ ...base, library: index === 0 ? 'redis' : 'ioredis' }));
  await Promise.all(fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 3 })));
  expect(tokens.stats.tokenRequests).toBe(1);
  expect(await redis.cli('EXISTS', tokenKey(base))).toContain('1');
  const marks = fleet.map((member) => member.events.length);
  await fleet[0]!.request({ cmd: 'clear' });
  await Promise.all(
    fleet.slice(1).map((member, index) => member.waitFor((event) => event.event === 'cleared' && event.origin === 'remote', marks[index + 1])),
  );
  expect(await redis.cli('EXISTS', tokenKey(base))).toContain('0');
  const after = await Promise.all(fleet.map((member) => member.request<Many>({ cmd: 'getMany', count: 3 })));
  expect(new Set(after.flatMap((result) => result.tokens)).size).toBe(1);
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('no client secret in Redis: neither stored nor in any command or message', async () => {
  const keys = (await redis.cli('--scan')).split('\n').filter(Boolean);
  const values = await Promise.all(keys.map((key) => redis.cli('GET', key)));
  expect(monitored).toContain('"PUBLISH"');
  expect(monitored).toContain('"SET"');
  expect(secrets.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    expect(monitored).not.toContain(secret);
    for (const value of values) expect(value).not.toContain(secret);
  }
});
