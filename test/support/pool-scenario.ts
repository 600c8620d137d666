/**
 * The Python seed's whole scenario, as a bench (bench/process-pool.ts) and a test (test/local/pool-scenario.test.ts)
 * share it: a pool of processes downloading protected tiles from a local server, each task followed by CPU work on the
 * process's main thread (decoding, reprojecting), with tokens whose lifetime is compressed from an hour to seconds.
 * Tasks go to whichever process is free, as a pool hands them out. A fault can hit the leader midway: stopped
 * (SIGSTOP, then SIGCONT) or its main thread blocked.
 */
import type { ChildProcess } from 'node:child_process';
import { type PoolOutcome, PoolTally, type PoolTasks, startPoolRun, tileTask } from './pool-run.js';
import type { TokenServer } from './token-server.js';
import type { PoolCommand, PoolMessage } from './pool-scenario-child.js';

export type { PoolOutcome } from './pool-run.js';

/** A command without its id (the runner numbers them). */
type Command = PoolCommand extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

export interface PoolScenario extends PoolTasks {
  readonly processes: number;
  /** Hits the process leading at `after` (of the tasks handed out) — or, with memorySharing, process 0. */
  readonly fault?: { readonly kind: 'stop' | 'block'; readonly ms: number; readonly after: number } | undefined;
}

/** Starts one pool process with `env` added (the bench forks itself; the test forks pool-scenario-main.ts). */
export type SpawnPoolChild = (env: Record<string, string>) => ChildProcess;

export async function runPoolScenario(server: TokenServer, spawn: SpawnPoolChild, scenario: PoolScenario): Promise<PoolOutcome> {
  const run = startPoolRun(server, scenario);
  const children: Array<{ child: ChildProcess; leading: boolean; answers: Map<number, (message: PoolMessage) => void> }> = [];
  const tally = new PoolTally(server, scenario);
  try {
    await Promise.all(
      Array.from({ length: scenario.processes }, async () => {
        const child = spawn({ POOL_SCENARIO_CHILD: JSON.stringify(run.config) });
        const member = { child, leading: false, answers: new Map<number, (message: PoolMessage) => void>() };
        children.push(member);
        await new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`a pool process exited (${code}) before it was ready`)));
          child.on('message', (message: PoolMessage) => {
            if ('event' in message && message.event === 'ready') resolve();
            else if ('event' in message && message.event === 'leader') {
              member.leading = message.leading;
              if (message.leading) tally.led();
            }
            else if ('id' in message) {
              member.answers.get(message.id)?.(message);
              member.answers.delete(message.id);
            }
          });
        });
      }),
    );
    let nextId = 0;
    const ask = (member: (typeof children)[number], command: Command): Promise<PoolMessage> => {
      const id = nextId++;
      return new Promise((resolve) => {
        member.answers.set(id, resolve);
        member.child.send({ ...command, id });
      });
    };

    const started = performance.now();
    let handedOut = 0;
    let faulted: (typeof children)[number] | undefined;
    let faultDone: Promise<unknown> = Promise.resolve();
    const worker = async (member: (typeof children)[number]): Promise<void> => {
      while (handedOut < scenario.tiles) {
        const index = handedOut++;
        if (scenario.fault !== undefined && faulted === undefined && index >= scenario.fault.after) {
          faulted = (scenario.sharing === 'local' ? children.find((each) => each.leading) : undefined) ?? children[0]!;
          faultDone = scenario.fault.kind === 'block' ? ask(faulted, { cmd: 'block', ms: scenario.fault.ms }) : stopFor(faulted.child, scenario.fault.ms);
        }
        const answer = await ask(member, { cmd: 'tile', ...tileTask(server, scenario, index) });
        if ('status' in answer) tally.add(answer, member === faulted, faulted !== undefined);
      }
    };
    await Promise.all(children.map((member) => worker(member)));
    await faultDone;
    return tally.outcome(performance.now() - started);
  } finally {
    await Promise.all(
      children.map(async (member) => {
        if (member.child.exitCode !== null || member.child.signalCode !== null) return;
        member.child.kill('SIGCONT');
        const exited = new Promise((resolve) => member.child.once('exit', resolve));
        const timer = setTimeout(() => member.child.kill('SIGKILL'), 5_000);
        member.child.send({ cmd: 'close', id: -1 } satisfies PoolCommand, () => undefined);
        await exited;
        clearTimeout(timer);
      }),
    );
    run.end();
  }
}

/** SIGSTOP for `ms`, then SIGCONT: a process suspended (Ctrl-Z, a debugger, a VM paused), alive the whole time. */
async function stopFor(child: ChildProcess, ms: number): Promise<void> {
  child.kill('SIGSTOP');
  await new Promise((resolve) => setTimeout(resolve, ms));
  child.kill('SIGCONT');
}
