/**
 * `npm run bench -- process-pool`: the Python seed's scenario (issue 24 §2). A pool of 8 processes downloads 400
 * protected tiles from a local server, each tile followed by 50–500 ms of CPU work on the process's main thread (as
 * decoding and reprojecting would); 1 h tokens refreshed 120 s early, compressed to 6 s and 200 ms. Then the same with
 * the leader stopped (SIGSTOP) for 10 s, and with its main thread blocked for 20 s, a third of the way in.
 * Ours: `localSharing` (one session for the pool). Baseline: each process its own session (`memorySharing`), with the
 * same fault on one process. Token requests, failed tasks and the longest wait for a token (of the processes the fault
 * did not hit). The processes are this script, forked with `POOL_SCENARIO_CHILD`. Prints numbers; asserts nothing.
 */
import { fork } from 'node:child_process';
import { runPoolChild } from '../test/support/pool-scenario-child.js';
import { report, type Row, smoke } from './lib/pairs.js';

if (process.env.POOL_SCENARIO_CHILD !== undefined) runPoolChild();
else await parent();

async function parent(): Promise<void> {
  const { startTokenServer } = await import('../test/support/token-server.js');
  const { runPoolScenario } = await import('../test/support/pool-scenario.js');
  type Scenario = Parameters<typeof runPoolScenario>[2];
  type Outcome = Awaited<ReturnType<typeof runPoolScenario>>;

  const server = await startTokenServer();
  const spawn = (env: Record<string, string>) => fork(process.argv[1]!, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const base: Omit<Scenario, 'sharing'> = smoke
    ? { processes: 2, tiles: 8, cpu: [1, 5], lifetime: 2, refreshBeforeExpiry: 200 }
    : { processes: 8, tiles: 400, cpu: [50, 500], lifetime: 6, refreshBeforeExpiry: 200 };
  const faults = smoke
    ? { stop: { kind: 'stop' as const, ms: 200, after: 3 }, block: { kind: 'block' as const, ms: 300, after: 3 } }
    : { stop: { kind: 'stop' as const, ms: 10_000, after: 133 }, block: { kind: 'block' as const, ms: 20_000, after: 133 } };
  const cases = [
    { id: 'pool', label: `${base.processes} processes, ${base.tiles} tiles`, fault: undefined },
    { id: 'pool-stopped', label: `leader stopped ${faults.stop.ms / 1000} s`, fault: faults.stop },
    { id: 'pool-blocked', label: `leader's main thread blocked ${faults.block.ms / 1000} s`, fault: faults.block },
  ];

  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    for (const each of cases) {
      // One run per side: a run is long (a minute of CPU work on 2 cores) and its counts do not drift.
      const ours: Outcome = await runPoolScenario(server, spawn, { ...base, sharing: 'local', fault: each.fault });
      const baseline: Outcome = await runPoolScenario(server, spawn, { ...base, sharing: 'memory', fault: each.fault });
      const extra = each.fault === undefined ? 0 : 1;
      rows.push(
        {
          id: `${each.id}-token-requests`,
          figure: `token requests, ${each.label}`,
          unit: 'requests',
          better: 'lower',
          ours: { label: 'localSharing', values: [ours.tokenRequests] },
          baseline: { label: 'each process its own session', values: [baseline.tokenRequests] },
          goal: `≤ ${ours.lifetimes + extra} (one per token lifetime${extra ? ', + 1' : ''})`,
          met: ours.tokenRequests <= ours.lifetimes + extra,
          count: true,
        },
        {
          id: `${each.id}-failed`,
          figure: `failed tasks, ${each.label}`,
          unit: 'tasks',
          better: 'lower',
          ours: { label: 'localSharing', values: [ours.failed] },
          baseline: { label: 'each process its own session', values: [baseline.failed] },
          goal: '0',
          met: ours.failed === 0,
          count: true,
        },
        {
          id: `${each.id}-longest-wait`,
          figure: `longest wait for a token, ${each.label}`,
          unit: 'ms',
          better: 'lower',
          ours: { label: 'localSharing', values: [Math.max(1, ours.longestWait)] },
          baseline: { label: 'each process its own session', values: [Math.max(1, baseline.longestWait)] },
          ...(each.fault === undefined ? {} : { goal: `< ${each.fault.ms / 1000} s (nobody waits for the leader)`, met: ours.longestWait < each.fault.ms }),
        },
      );
      notes.push(
        `${each.label}: ours ${Math.round(ours.elapsed)} ms for the tasks (${ours.lifetimes} token periods), baseline ${Math.round(baseline.elapsed)} ms; errors ${[...ours.errors, ...baseline.errors].join(', ') || 'none'}`,
      );
    }
  } finally {
    await server.close();
  }
  notes.push(`CPU work per tile ${base.cpu[0]}–${base.cpu[1]} ms on the main thread; tokens ${base.lifetime} s, refreshed ${base.refreshBeforeExpiry} ms early`);
  report({ bench: 'process-pool', title: 'The seed\'s scenario: a process pool downloading and computing tiles', rows, notes });
}
