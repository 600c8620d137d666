import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PoolOutcome } from '../support/pool-run.js';
import { runThreadPoolScenario, type ThreadPoolScenario } from '../support/thread-pool-scenario.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The seed's scenario (issue 24 §2) with a piscina pool of 8 threads, in the test's size: piscina hands 560 protected
// tiles to whichever thread is free, each tile followed by 20–100 ms of CPU work on that thread's event loop, with 4 s
// tokens refreshed 0.5 s early (an hour and 120 s, compressed). Every thread has its session, shared through
// localSharing as docs/node-processes.md shows. The promise: one token request per token lifetime for the whole pool,
// no failed task; with the leading thread's event loop blocked for 20 s, nobody waits for it and at most one more
// token request. 560 tiles because the work must outlast a token: about 560 × 60 ms / 8 threads = 4.2 s of it, past
// the first refresh (3.5 s), however fast the machine (the CPU work is wall-clock time); with fewer, the first token
// would serve every tile and the fault would pass beside the pool. (A thread cannot be stopped alone: SIGSTOP stops
// the process, all its threads with it; test/local/pool-scenario.test.ts stops a leader process.) The bench
// (bench/thread-pool.ts) runs the full size next to "each thread its own session".

/**
 * A bound on the whole test, not a promise: starting 8 processes or threads and closing them takes seconds on an idle
 * machine and minutes on a loaded one (110 s of 120 for the thread pool's blocked case at load 32, of which 43 s were
 * the tasks). What is promised about time is asserted against what this run measured.
 */
const POOL_RUN_TIMEOUT = 300_000;

let server: TokenServer;
beforeAll(async () => {
  server = await startTokenServer();
});
afterAll(() => server.close());

const taskFile = path.resolve(import.meta.dirname, '../support/thread-pool-task.mjs');
const base: ThreadPoolScenario = { threads: 8, tiles: 560, cpu: [20, 100], lifetime: 4, refreshBeforeExpiry: 500, sharing: 'local' };
/** localSharing's default: how long a request may meet a silent leader before the asker replaces it. */
const ANSWER_TIMEOUT = 2_000;

/**
 * One token request per token period. `lifetimes` counts the periods the run touched, from the first getToken to the
 * end: never more requests than that. And no fewer than one per period but the last: the leader refreshes ahead of
 * expiry on a timer, and only a refresh due in the run's last milliseconds may fall after its end.
 */
function expectOnePerPeriod(outcome: PoolOutcome, extra = 0): void {
  expect(outcome.tokenRequests).toBeLessThanOrEqual(outcome.lifetimes + extra);
  expect(outcome.tokenRequests).toBeGreaterThanOrEqual(Math.max(1, outcome.lifetimes - 1));
}

it('8 threads, 560 tiles with CPU work, 4 s tokens: one token request per token lifetime, no failed task', async () => {
  const outcome = await runThreadPoolScenario(server, taskFile, base);
  console.warn(`piscina pool of 8: ${JSON.stringify(outcome)}`);
  expect(outcome.errors).toEqual([]);
  expect(outcome.failed).toBe(0);
  expect(outcome.served).toBe(560);
  expectOnePerPeriod(outcome);
  // A leader computes at most 100 ms between two answers: no follower meets an answer timeout of silence, so the
  // thread that led first leads to the end.
  expect(outcome.leaderships).toBe(1);
  // Once the pool has its first token, a wait is at most a refresh by the leader: under an answer timeout on an idle
  // machine, and on a loaded one under what the cold start cost in this run (an election and a token request), twice
  // over. The cold start itself is not bounded: it is the machine's speed, not the session's (4.4 s at load 44).
  expect(outcome.longestSteadyWait).toBeLessThan(Math.max(ANSWER_TIMEOUT, 2 * outcome.coldStart));
}, POOL_RUN_TIMEOUT);

it("the leading thread's event loop blocked for 20 s midway: nobody waits for it, at most one more token request, no failed task", async () => {
  // At 120 tiles (≥ 0.9 s in): the 440 left need ≥ 3.8 s of the 7 other threads, so the pool needs the token's
  // refresh while the leader is blocked.
  const fault = { kind: 'block', ms: 20_000, after: 120 } as const;
  const outcome = await runThreadPoolScenario(server, taskFile, { ...base, fault });
  console.warn(`piscina pool of 8, leading thread blocked 20 s: ${JSON.stringify(outcome)}`);
  expect(outcome.errors).toEqual([]);
  expect(outcome.failed).toBe(0);
  expect(outcome.served).toBe(560);
  expect(outcome.tokenRequests).toBeLessThanOrEqual(outcome.lifetimes + 1);
  // Nobody waits for the blocked leader: the longest wait is one answer timeout of silence, the new leader finishing
  // the tile it computes, then what a wait cost in this run before the fault (the cold start: an election and a token
  // request, under the same load), twice over.
  expect(outcome.longestWait).toBeLessThan(fault.ms);
  // … and the fault was met: a thread asked the blocked leader, heard nothing for an answer timeout, and replaced it.
  expect(outcome.longestWait).toBeGreaterThanOrEqual(ANSWER_TIMEOUT);
  expect(outcome.longestWait).toBeLessThan(ANSWER_TIMEOUT + base.cpu[1] + 2 * outcome.longestWaitBeforeFault);
}, POOL_RUN_TIMEOUT);
