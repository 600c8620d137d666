import { fork } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPoolScenario, type PoolOutcome, type PoolScenario, type SpawnPoolChild } from '../support/pool-scenario.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The seed's scenario (issue 24 §2), in the test's size: 8 processes hand out protected tiles as a pool does, each
// tile followed by CPU work on the process's main thread, with 4 s tokens refreshed 0.5 s early (an hour and 120 s,
// compressed). The promise: one token request per token lifetime for the whole pool, no failed task; with the leader
// stopped (SIGSTOP) for 10 s or its main thread blocked for 20 s, nobody waits for it (each wait shorter than the
// fault) and at most one more token request. The bench (bench/process-pool.ts) runs the full size and puts
// the figures next to "each process its own session".

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

const script = path.resolve(import.meta.dirname, '../support/pool-scenario-main.ts');
const spawn: SpawnPoolChild = (env) => fork(script, { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

const base: PoolScenario = { processes: 8, tiles: 160, cpu: [20, 100], lifetime: 4, refreshBeforeExpiry: 500, sharing: 'local' };

/** Token requests allowed: one per lifetime the run spanned (a run of n usable periods starts n tokens at most). */
const perLifetime = (outcome: PoolOutcome): number => outcome.lifetimes;

it('8 processes, 160 tiles with CPU work, 4 s tokens: one token request per token lifetime, no failed task', async () => {
  const outcome = await runPoolScenario(server, spawn, base);
  console.warn(`pool of 8: ${JSON.stringify(outcome)}`);
  expect(outcome.errors).toEqual([]);
  expect(outcome.failed).toBe(0);
  expect(outcome.served).toBe(160);
  expect(outcome.tokenRequests).toBeGreaterThanOrEqual(1);
  expect(outcome.tokenRequests).toBeLessThanOrEqual(perLifetime(outcome));
}, POOL_RUN_TIMEOUT);

it('the leader stopped (SIGSTOP) for 10 s midway: nobody waits for it, at most one more token request, no failed task', async () => {
  const outcome = await runPoolScenario(server, spawn, { ...base, fault: { kind: 'stop', ms: 10_000, after: 40 } });
  console.warn(`pool of 8, leader stopped 10 s: ${JSON.stringify(outcome)}`);
  expect(outcome.errors).toEqual([]);
  expect(outcome.failed).toBe(0);
  expect(outcome.served).toBe(160);
  expect(outcome.longestWait).toBeLessThan(10_000);
  expect(outcome.tokenRequests).toBeLessThanOrEqual(perLifetime(outcome) + 1);
}, POOL_RUN_TIMEOUT);

it('the leader\'s main thread blocked for 20 s midway: nobody waits for it, at most one more token request, no failed task', async () => {
  const outcome = await runPoolScenario(server, spawn, { ...base, fault: { kind: 'block', ms: 20_000, after: 40 } });
  console.warn(`pool of 8, leader blocked 20 s: ${JSON.stringify(outcome)}`);
  expect(outcome.errors).toEqual([]);
  expect(outcome.failed).toBe(0);
  expect(outcome.served).toBe(160);
  expect(outcome.longestWait).toBeLessThan(20_000);
  expect(outcome.tokenRequests).toBeLessThanOrEqual(perLifetime(outcome) + 1);
}, POOL_RUN_TIMEOUT);
