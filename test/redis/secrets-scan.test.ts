import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FleetProcess, startFleet, stopFleet } from '../support/redis-fleet.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';
import type { WorkerConfig } from '../support/redis-worker.js';
import { leaks } from '../support/secrets.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The secrets scan of redisSharing: every command Redis ran (MONITOR, so every key written and every message
// published), every Pub/Sub message as a subscriber receives it, every key and value left, each process's stdout and
// stderr, its events and the inspected errors (message, code, cause chain, details) its callers got — through token
// requests, failures relayed to waiting processes, an OAuth error, a sign-out, Redis killed and restarted, and a
// process with a wrong secret. README: the client secret is never there (nor a refresh token: rotating grants are
// refused).

let redis: RedisServer;
let tokens: TokenServer;
let fleet: FleetProcess[] = [];
const captured = { monitor: '', pubsub: '' };
const watchers: Array<ReturnType<typeof spawn>> = [];

/** MONITOR and a PSUBSCRIBE to every channel, appended to `captured` (started again after a Redis restart). */
function watch(): void {
  const cli = (args: string[], into: 'monitor' | 'pubsub'): void => {
    const child = spawn('/usr/bin/redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), ...args]);
    child.stdout.on('data', (chunk: Buffer) => (captured[into] += chunk.toString()));
    watchers.push(child);
  };
  cli(['monitor'], 'monitor');
  cli(['psubscribe', '*'], 'pubsub');
}

beforeAll(async () => {
  [redis, tokens] = await Promise.all([startRedisServer(), startTokenServer()]);
  watch();
});
afterAll(async () => {
  await stopFleet(fleet);
  for (const watcher of watchers) watcher.kill();
  await Promise.all([redis.stop(), tokens.close()]);
});

interface Many {
  tokens: string[];
  errors: string[];
  inspected: string[];
}

it('client credentials through failures, a sign-out and a Redis restart: the client secret is in no command, message, key, log, event or error', async () => {
  const secret = 'redis-scan-client-s3cr3t-value';
  const wrongSecret = 'redis-scan-wrong-s3cr3t-value';
  const { id } = tokens.addClient('redis-scan', secret);
  const config = (index: number): WorkerConfig => ({
    redisUrl: redis.url,
    library: index % 2 === 0 ? 'redis' : 'ioredis',
    tokenUrl: tokens.tokenUrl,
    clientId: id,
    clientSecret: index === 3 ? wrongSecret : secret,
    sharing: { commandTimeout: 500, pollInterval: 100 },
  });
  fleet = await startFleet(4, config, { capture: true });
  const [a, b, c, wrong] = fleet as [FleetProcess, FleetProcess, FleetProcess, FleetProcess];
  const answers: Many[] = [];
  const ask = async (members: FleetProcess[], count = 5): Promise<void> => {
    answers.push(...(await Promise.all(members.map((member) => member.request<Many>({ cmd: 'getMany', count })))));
  };
  await ask([a, b, c]);
  await a.request({ cmd: 'clear' });
  tokens.latency = 200; // the others wait for the holder and get its failure relayed
  tokens.failNext(4, 503);
  await ask([a, b, c], 2);
  tokens.latency = 0;
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // past the remembered back-off
  tokens.failNext(1, 400, { body: JSON.stringify({ error: 'invalid_scope', error_description: 'no such scope' }) });
  await ask([a, b, c], 2);
  await ask([a, b, c]);
  // Redis dies: the clients' errors (with the commands some libraries attach) go to events and causes.
  const port = redis.port;
  await redis.stop();
  await a.request({ cmd: 'clear' }).catch(() => undefined);
  await ask([a, b, c], 2);
  redis = await startRedisServer(port);
  watch();
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // the clients reconnect
  await ask([a, b, c]);
  await ask([wrong], 2);

  const codes = answers.flatMap((answer) => answer.errors);
  expect(codes).toEqual(expect.arrayContaining(['endpoint_unavailable', 'invalid_scope', 'invalid_client']));
  const eventCodes = fleet.flatMap((member) => member.events.flatMap((event) => (event.event === 'error' ? [event.code] : [])));
  expect(eventCodes).toContain('sharing_degraded');
  expect(captured.monitor).toContain('"PUBLISH"');
  expect(captured.pubsub).toContain('pmessage');
  const keys = (await redis.cli('--scan')).split('\n').filter(Boolean);
  const values = await Promise.all(keys.map((key) => redis.cli('GET', key)));
  expect(keys.length).toBeGreaterThan(0);

  const places: Record<string, string> = {
    'MONITOR (every command)': captured.monitor,
    'Pub/Sub messages': captured.pubsub,
    'keys and values': [...keys, ...values].join('\n'),
    'errors callers got': answers.flatMap((answer) => answer.inspected).join('\n'),
  };
  for (const [index, member] of fleet.entries()) {
    places[`process ${index} stdout and stderr`] = member.output.join('');
    places[`process ${index} events`] = JSON.stringify(member.events);
  }
  const secrets = [
    { name: 'client secret', value: secret },
    { name: 'wrong client secret', value: wrongSecret },
  ];
  expect(leaks(places, secrets)).toEqual([]);
  // The scan finds what it looks for: the access token was stored (with a TTL), so it is in MONITOR's output.
  expect(captured.monitor).toMatch(/at_[0-9a-f]{24}/);
}, 60_000);
