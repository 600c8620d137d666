/**
 * `npm run bench -- redis`: a fleet of server processes against a real redis-server and the real token server.
 * - cold start of 4 processes × 250 concurrent `getToken` with `redisSharing` vs the same processes with
 *   `memorySharing` (each process on its own): token requests (goal 1 vs 4) and time until every call holds a token;
 * - a new session adopting the token another process stored (one EVAL: token, TTL, sign-out epoch) vs one plain GET.
 * Rounds alternate between the two sides, each with a new credential so that both start cold.
 * The processes are this same script, forked with `BENCH_FLEET_CHILD=1`. Prints numbers; asserts nothing.
 */
import { fork } from 'node:child_process';
import { createClient } from 'redis';
import { clientCredentials, createSession, memorySharing } from '../src/index.js';
import { redisSharing } from '../src/redis.js';
import { describeMachine } from './lib/machine.js';
import { median, report, type Row, smoke } from './lib/pairs.js';

interface ColdStart {
  readonly sharing: 'redis' | 'memory';
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly calls: number;
}

if (process.env.BENCH_FLEET_CHILD === '1') await child();
else await parent();

/** One server process: on each message, one cold start of `calls` concurrent getToken; answers when all hold one. */
async function child(): Promise<void> {
  const client = await createClient({ url: process.env.BENCH_REDIS_URL! }).connect();
  process.on('message', (message: ColdStart | 'close') => {
    if (message === 'close') {
      client.destroy();
      process.disconnect();
      return;
    }
    void (async () => {
      const provider = clientCredentials({ tokenUrl: message.tokenUrl, clientId: message.clientId, clientSecret: message.clientSecret });
      const session = createSession({ provider, sharing: message.sharing === 'redis' ? redisSharing({ client }) : memorySharing() });
      await Promise.all(Array.from({ length: message.calls }, () => session.getToken()));
      process.send!('done');
      await session.close();
    })();
  });
  process.send!('ready');
}

async function parent(): Promise<void> {
  const { startRedisServer } = await import('../test/support/redis-server.js');
  const { startTokenServer } = await import('../test/support/token-server.js');
  const PROCESSES = 4;
  const CALLS = smoke ? 20 : 250;
  const ROUNDS = smoke ? 2 : 9;
  const ADOPTIONS = smoke ? 10 : 200;

  const [redis, server] = await Promise.all([startRedisServer(), startTokenServer()]);
  // The compiled script itself (bench/run.ts runs it from its build folder).
  const self = process.argv[1]!;
  const fleet = await Promise.all(
    Array.from({ length: PROCESSES }, async () => {
      const process_ = fork(self, { env: { ...process.env, BENCH_FLEET_CHILD: '1', BENCH_REDIS_URL: redis.url }, stdio: 'inherit' });
      await new Promise((resolve, reject) => {
        process_.once('message', resolve);
        process_.once('exit', (code) => reject(new Error(`a fleet process exited with ${code}`)));
      });
      process_.on('exit', (code) => {
        if (code !== 0) throw new Error(`a fleet process exited with ${code}`);
      });
      return process_;
    }),
  );
  const coldStart = async (sharing: ColdStart['sharing'], round: number): Promise<{ ms: number; requests: number }> => {
    const credentials = server.addClient(`fleet-${sharing}-${round}`);
    const message: ColdStart = { sharing, tokenUrl: server.tokenUrl, clientId: credentials.id, clientSecret: credentials.secret, calls: CALLS };
    server.resetStats();
    const started = performance.now();
    await Promise.all(
      fleet.map((member) => {
        const done = new Promise((resolve) => member.once('message', resolve));
        member.send(message);
        return done;
      }),
    );
    const ms = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the sessions close
    return { ms, requests: server.stats.tokenRequests };
  };

  const sides = { redis: { ms: [] as number[], requests: [] as number[] }, memory: { ms: [] as number[], requests: [] as number[] } };
  await coldStart('redis', -1); // warm up the processes' JIT and connections
  await coldStart('memory', -1);
  for (let round = 0; round < ROUNDS; round++) {
    for (const sharing of round % 2 === 0 ? (['redis', 'memory'] as const) : (['memory', 'redis'] as const)) {
      const { ms, requests } = await coldStart(sharing, round);
      sides[sharing].ms.push(ms);
      sides[sharing].requests.push(requests);
    }
  }
  for (const member of fleet) member.send('close');

  // Adoption: a new session (its own sharing: its own core and Pub/Sub connection) taking the stored token.
  const client = await createClient({ url: redis.url }).connect();
  const credentials = server.addClient('adopt');
  const provider = clientCredentials({ tokenUrl: server.tokenUrl, clientId: credentials.id, clientSecret: credentials.secret });
  const first = createSession({ provider, sharing: redisSharing({ client }) });
  await first.getToken();
  await client.set('bench:plain', 'x'.repeat(200));
  const adopt: number[] = [];
  const plainGet: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const adoptTrials: number[] = [];
    const getTrials: number[] = [];
    for (let trial = 0; trial < ADOPTIONS / ROUNDS; trial++) {
      const other = createSession({ provider, sharing: redisSharing({ client }) });
      let begin = performance.now();
      await other.getToken();
      adoptTrials.push(performance.now() - begin);
      await other.close();
      begin = performance.now();
      await client.get('bench:plain');
      getTrials.push(performance.now() - begin);
    }
    adopt.push(median(adoptTrials));
    plainGet.push(median(getTrials));
  }
  await first.close();
  client.destroy();

  const calls = `${PROCESSES} processes × ${CALLS}`;
  const rows: Row[] = [
    {
      id: 'redis-fleet-requests',
      figure: `token requests, cold start of ${calls} calls`,
      unit: 'requests',
      better: 'lower',
      ours: { label: 'redisSharing', values: sides.redis.requests },
      baseline: { label: 'memorySharing in each process', values: sides.memory.requests },
      goal: `1 vs ${PROCESSES}`,
      met: Math.max(...sides.redis.requests) === 1,
    },
    {
      id: 'redis-fleet-time',
      figure: `time until ${calls} calls hold a token`,
      unit: 'ms',
      better: 'lower',
      ours: { label: 'redisSharing', values: sides.redis.ms },
      baseline: { label: 'memorySharing in each process', values: sides.memory.ms },
    },
    {
      id: 'redis-adopt',
      figure: 'a new session adopting the stored token (one EVAL)',
      unit: 'ms',
      better: 'lower',
      ours: { label: 'createSession + getToken', values: adopt },
      baseline: { label: 'one plain GET', values: plainGet },
    },
  ];
  report({ bench: 'redis', title: 'shared-session: a Redis fleet', machine: describeMachine({ redis: true }), rows });
  await Promise.all([redis.stop(), server.close()]);
}
