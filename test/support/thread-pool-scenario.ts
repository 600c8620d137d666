/**
 * The seed's scenario with a piscina pool of threads instead of processes, as a bench (bench/thread-pool.ts) and a test
 * (test/local/thread-pool-scenario.test.ts) share it: every tile task is handed to piscina, which gives it to whichever
 * thread is free; the thread downloads the tile with its session and computes on its own event loop
 * (thread-pool-task.ts). The same tasks and outcome as the process pool (pool-run.ts). The fault a thread can suffer
 * alone is its event loop blocked: SIGSTOP stops a whole process, every thread of the pool with it.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { type PoolOutcome, PoolTally, type PoolTasks, startPoolRun, tileTask } from './pool-run.js';
import type { ThreadCommand, ThreadEvent, ThreadTileAnswer, ThreadTileTask } from './thread-pool-task.js';
import type { TokenServer } from './token-server.js';

export interface ThreadPoolScenario extends PoolTasks {
  readonly threads: number;
  /**
   * Blocks the event loop of the thread leading once `after` tasks are done — or, with memorySharing, of the first
   * thread that answered.
   */
  readonly fault?: { readonly kind: 'block'; readonly ms: number; readonly after: number } | undefined;
}

/** How long the runner waits for the threads to close their sessions before piscina ends them anyway. */
const CLOSE_TIMEOUT = 5_000;

/** `taskFile`: thread-pool-task.ts as piscina can load it (the test's tsx loader, or the bench's own bundle). */
export async function runThreadPoolScenario(server: TokenServer, taskFile: string, scenario: ThreadPoolScenario): Promise<PoolOutcome> {
  const run = startPoolRun(server, scenario);
  const channel = new BroadcastChannel(run.name);
  const leading = new Map<number, boolean>();
  const listeners = new Set<(event: ThreadEvent) => void>();
  const tally = new PoolTally(server, scenario);
  channel.onmessage = (message) => {
    const event = message.data as ThreadEvent;
    if (event.event === 'leader') leading.set(event.threadId, event.leading);
    if (event.event === 'leader' && event.leading) tally.led();
    for (const listener of listeners) listener(event);
  };
  const heard = (wanted: (event: ThreadEvent) => boolean): Promise<void> =>
    new Promise((resolve) => {
      const listener = (event: ThreadEvent): void => {
        if (!wanted(event)) return;
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
    });
  const tell = (command: ThreadCommand): void => channel.postMessage(command);

  const pool = new Piscina<ThreadTileTask, ThreadTileAnswer>({ filename: taskFile, minThreads: scenario.threads, maxThreads: scenario.threads });
  const threads = new Set<number>();
  try {
    let done = 0;
    let faulted: number | undefined;
    let faultDone: Promise<void> = Promise.resolve();
    let firstAsked = Number.POSITIVE_INFINITY;
    const hitWhenDue = (): void => {
      const fault = scenario.fault;
      if (fault === undefined || faulted !== undefined || done < fault.after) return;
      const leader = scenario.sharing === 'local' ? [...leading].find(([, isLeading]) => isLeading)?.[0] : undefined;
      const target = leader ?? [...threads][0]!;
      faulted = target;
      faultDone = heard((event) => event.event === 'unblocked' && event.threadId === target);
      tell({ cmd: 'block', threadId: target, ms: fault.ms });
    };
    await Promise.all(
      Array.from({ length: scenario.tiles }, async (_, index) => {
        const answer = await pool.run({ config: run.config, channel: run.name, ...tileTask(server, scenario, index) });
        threads.add(answer.threadId);
        firstAsked = Math.min(firstAsked, answer.askedAt);
        tally.add(answer, answer.threadId === faulted, faulted !== undefined);
        done++;
        hitWhenDue();
      }),
    );
    await faultDone;
    // From the first getToken on (the threads' start is not the tasks' time), in the clock every thread shares.
    return tally.outcome(performance.timeOrigin + performance.now() - firstAsked);
  } finally {
    const closed = [...threads].map((thread) => heard((event) => event.event === 'closed' && event.threadId === thread));
    tell({ cmd: 'close' });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(closed), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT)))]);
    clearTimeout(timer);
    channel.close();
    await pool.destroy();
    run.end();
  }
}
