import { type FleetProcess, startFleet, stopFleet } from '../support/redis-fleet.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';
import type { SoakReport } from './report.js';
import { MARGIN, nextFetching, soakProcesses } from './processes.js';

// The Redis fleet soak: 4 processes (node-redis and ioredis mixed) share one session through a real redis-server
// while the schedule SIGKILLs Redis (restarted empty on its port), SIGSTOPs it, and SIGKILLs or SIGSTOPs the lock
// holder in the middle of its token request.

const KINDS = { 'kill-redis': 1, 'pause-redis': 1, 'kill-holder': 1.5, 'stop-holder': 1 } as const;
const LEASE = 2_000;

export async function soakRedis(options: { seed: number; duration: number; log: (line: string) => void }): Promise<SoakReport> {
  let redis: RedisServer = await startRedisServer();
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    return await soakProcesses({
      ...options,
      transport: 'Redis fleet: 4 processes',
      count: 4,
      kinds: KINDS,
      gap: 3_000,
      async start(tokens, client) {
        let index = 0;
        const config = () => ({
          redisUrl: redis.url,
          library: index++ % 2 === 0 ? ('redis' as const) : ('ioredis' as const),
          tokenUrl: tokens.tokenUrl,
          apiUrl: tokens.apiUrl,
          clientId: client.id,
          clientSecret: client.secret,
          refreshBeforeExpiry: MARGIN,
          sharing: { leaseTime: LEASE, pollInterval: 200, commandTimeout: 500 },
        });
        const members: FleetProcess[] = await startFleet(4, config);
        return {
          members: members as never,
          async add() {
            const [member] = await startFleet(1, config());
            members.push(member!);
            return member as never;
          },
        };
      },
      async inject(kind, context) {
        const now = Date.now();
        switch (kind) {
          case 'kill-redis': {
            const down = 1_000 + Math.round(context.pick * 1_500);
            const port = redis.port;
            await redis.stop();
            await sleep(down);
            redis = await startRedisServer(port);
            // Each process fetches for itself while Redis is away (sharing_degraded), and until it reconnects.
            context.explainRequests(now, Date.now() + 5_000);
            context.explainFailures(now, Date.now() + 5_000);
            return;
          }
          case 'pause-redis': {
            const paused = 1_000 + Math.round(context.pick * 2_000);
            redis.pause();
            await sleep(paused);
            redis.resume();
            context.explainRequests(now, Date.now() + 5_000);
            context.explainFailures(now, Date.now() + 5_000);
            return;
          }
          case 'kill-holder':
          case 'stop-holder': {
            const holder = await nextFetching(context.fleet.members, 4_000);
            if (holder === undefined) {
              context.note(`${kind}: no token request within 4 s, nothing done`);
              return;
            }
            if (kind === 'kill-holder') {
              holder.kill('SIGKILL');
              context.fleet.members.splice(context.fleet.members.indexOf(holder), 1);
              await context.fleet.add();
            } else {
              holder.kill('SIGSTOP');
              await sleep(LEASE + Math.round(context.pick * 1_500));
              holder.kill('SIGCONT');
            }
            // The others take over once the lease expired: the token may run out meanwhile (waits, not failures).
            context.explainRequests(now, Date.now() + LEASE + 2_000);
            context.explainFailures(now, Date.now() + LEASE + 1_000);
            return;
          }
        }
      },
      async stop(fleet) {
        await stopFleet(fleet.members as never);
      },
    });
  } finally {
    await redis.stop();
  }
}
