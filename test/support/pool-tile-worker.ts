// What one worker of the seed's scenario does with a tile task, whether it is a pool process (pool-scenario-child.ts)
// or a piscina thread (thread-pool-task.ts): gets a token from its session (shared through localSharing, or its own
// with memorySharing), downloads the tile, then computes on its own thread for the task's time, as decoding and
// reprojecting would. Reports how long getToken waited. Requests go through `createClient`, as an app's would: a token
// that expires on its way to a busy server (4 s tokens refreshed 0.5 s early, on a loaded machine) is answered 401,
// refreshed once for every caller that saw it, and retried.
import { createClient } from '../../src/client.js';
import { clientCredentials, createSession, isSessionError, memorySharing, type Session } from '../../src/index.js';
import { localSharing } from '../../src/node.js';

/** How a worker reaches the token server and the others. */
export interface TileWorkerConfig {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly dir: string;
  readonly sharing: 'local' | 'memory';
  readonly refreshBeforeExpiry: number;
}

export interface TileAnswer {
  readonly status: number;
  /** How long getToken waited, ms. */
  readonly wait: number;
  /** When getToken was called: `performance.timeOrigin + performance.now()`, comparable across threads. */
  readonly askedAt: number;
  readonly error?: string;
}

export interface TileWorker {
  readonly session: Session;
  tile(url: string, cpu: number): Promise<TileAnswer>;
  /**
   * Blocks this thread's event loop for `ms`, as a tile that takes that long to compute: at once when no tile is on
   * its way, else right after that tile's own CPU work. Never while a tile request is in flight: a thread frozen
   * there would only see its own request time out (ky's 10 s), which is not what the fault is about.
   */
  block(ms: number): Promise<void>;
}

/** Busy CPU work on this thread for `ms` (a tile being decoded): nothing else of this thread runs meanwhile. */
export function compute(ms: number): void {
  const until = performance.now() + ms;
  let sink = 0;
  while (performance.now() < until) sink += Math.sqrt(sink + 1);
  if (Number.isNaN(sink)) throw new Error('unreachable: keeps the loop from being optimised away');
}

export function createTileWorker(config: TileWorkerConfig): TileWorker {
  const { tokenUrl, clientId, clientSecret, dir } = config;
  const session = createSession({
    provider: clientCredentials({ tokenUrl, clientId, clientSecret }),
    sharing: config.sharing === 'local' ? localSharing({ dir }) : memorySharing(),
    refreshBeforeExpiry: config.refreshBeforeExpiry,
  });
  // A tile request may outlast a fault (20 s at most): a process stopped (SIGSTOP) while its request is on its way
  // wakes to find ky's timer, which counts wall time, expired (10 s by default) and fails its own tile with a
  // TimeoutError — the HTTP client's timeout, not what the scenario tests (seen in the process test's stopped case).
  const client = createClient(session, { retry: 0, timeout: 30_000 });
  let inFlight = 0;
  const blocks: Array<() => void> = [];
  const runBlocks = (): void => {
    for (const run of blocks.splice(0)) run();
  };
  return {
    session,
    async tile(url, cpu) {
      const asked = performance.now();
      const askedAt = performance.timeOrigin + asked;
      inFlight++;
      try {
        await session.getToken();
        const wait = performance.now() - asked;
        const response = await client.get(url, { throwHttpErrors: false });
        await response.arrayBuffer();
        compute(cpu);
        return { status: response.status, wait, askedAt };
      } catch (error) {
        const status = (error as { response?: Response }).response?.status ?? 0;
        return { status, wait: performance.now() - asked, askedAt, error: isSessionError(error) ? error.code : String(error) };
      } finally {
        if (--inFlight === 0) runBlocks();
      }
    },
    block(ms) {
      return new Promise((resolve) => {
        blocks.push(() => {
          compute(ms);
          resolve();
        });
        if (inFlight === 0) runBlocks();
      });
    },
  };
}
