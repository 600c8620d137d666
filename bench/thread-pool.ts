/**
 * `npm run bench -- thread-pool`: the Python seed's scenario (issue 24 §2) with a piscina pool of 8 worker threads
 * instead of processes (bench/process-pool.ts). Piscina hands 400 protected tiles to whichever thread is free, each tile
 * followed by 50–500 ms of CPU work on that thread's event loop (as decoding and reprojecting would); 1 h tokens
 * refreshed 120 s early, compressed to 6 s and 200 ms. Then the same with the leading thread's event loop blocked for
 * 20 s, a third of the way in. A thread cannot be stopped alone (SIGSTOP stops the process, every thread of the pool
 * with it), so there is no "stopped" case: process-pool.ts has it.
 * Ours: `localSharing` in every thread (one session for the pool). Baseline: each thread its own session
 * (`memorySharing`), with the same fault on one thread. Token requests, failed tasks and the longest wait for a token
 * (of the threads the fault did not hit). Piscina's threads load this script itself (its default export is the task).
 * Prints numbers; asserts nothing.
 */
import { isMainThread } from 'node:worker_threads';
import { report, type Row, smoke } from './lib/pairs.js';

export { default } from '../test/support/thread-pool-task.js';

if (isMainThread) await parent();

async function parent(): Promise<void> {
  const { startTokenServer } = await import('../test/support/token-server.js');
  const { runThreadPoolScenario } = await import('../test/support/thread-pool-scenario.js');
  type Scenario = Parameters<typeof runThreadPoolScenario>[2];
  type Outcome = Awaited<ReturnType<typeof runThreadPoolScenario>>;

  const server = await startTokenServer();
  // The bundle `npm run bench` runs (bench/run.ts), not this source: piscina's threads load it as plain JavaScript.
  const taskFile = process.argv[1]!;
  const base: Omit<Scenario, 'sharing'> = smoke
    ? { threads: 2, tiles: 8, cpu: [1, 5], lifetime: 2, refreshBeforeExpiry: 200 }
    : { threads: 8, tiles: 400, cpu: [50, 500], lifetime: 6, refreshBeforeExpiry: 200 };
  const block = smoke ? { kind: 'block' as const, ms: 300, after: 3 } : { kind: 'block' as const, ms: 20_000, after: 133 };
  const cases = [
    { id: 'threads', label: `${base.threads} threads, ${base.tiles} tiles`, fault: undefined },
    { id: 'threads-blocked', label: `leading thread's event loop blocked ${block.ms / 1000} s`, fault: block },
  ];

  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    for (const each of cases) {
      // One run per side: a run is long (a minute of CPU work on 2 cores) and its counts do not drift.
      const ours: Outcome = await runThreadPoolScenario(server, taskFile, { ...base, sharing: 'local', fault: each.fault });
      const baseline: Outcome = await runThreadPoolScenario(server, taskFile, { ...base, sharing: 'memory', fault: each.fault });
      const extra = each.fault === undefined ? 0 : 1;
      const sides = (pick: (outcome: Outcome) => number) => ({
        ours: { label: 'localSharing in every thread', values: [pick(ours)] },
        baseline: { label: 'each thread its own session', values: [pick(baseline)] },
      });
      rows.push(
        {
          id: `${each.id}-token-requests`,
          figure: `token requests, ${each.label}`,
          unit: 'requests',
          better: 'lower',
          ...sides((outcome) => outcome.tokenRequests),
          goal: `≤ ${ours.lifetimes + extra} (one per token lifetime${extra ? ', + 1' : ''})`,
          met: ours.tokenRequests <= ours.lifetimes + extra,
          count: true,
        },
        {
          id: `${each.id}-failed`,
          figure: `failed tasks, ${each.label}`,
          unit: 'tasks',
          better: 'lower',
          ...sides((outcome) => outcome.failed),
          goal: '0',
          met: ours.failed === 0,
          count: true,
        },
        {
          id: `${each.id}-longest-wait`,
          figure: `longest wait for a token, ${each.label}`,
          unit: 'ms',
          better: 'lower',
          ...sides((outcome) => Math.max(1, outcome.longestWait)),
          ...(each.fault === undefined ? {} : { goal: `< ${each.fault.ms / 1000} s (nobody waits for the leader)`, met: ours.longestWait < each.fault.ms }),
        },
      );
      notes.push(
        `${each.label}: ours ${Math.round(ours.elapsed)} ms from the first getToken to the last task (${ours.lifetimes} token periods), baseline ${Math.round(baseline.elapsed)} ms; errors ${[...ours.errors, ...baseline.errors].join(', ') || 'none'}`,
      );
    }
  } finally {
    await server.close();
  }
  notes.push(`CPU work per tile ${base.cpu[0]}–${base.cpu[1]} ms on the thread's event loop; tokens ${base.lifetime} s, refreshed ${base.refreshBeforeExpiry} ms early`);
  notes.push('no "leader stopped" case: SIGSTOP stops a whole process, every thread with it (bench/process-pool.ts stops a leader process)');
  report({ bench: 'thread-pool', title: "The seed's scenario: a piscina pool of threads downloading and computing tiles", rows, notes });
}
