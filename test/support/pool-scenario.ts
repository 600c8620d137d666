/**
 * The Python seed's whole scenario, as a bench (bench/process-pool.ts) and a test (test/local/pool-scenario.test.ts)
 * share it: a pool of processes downloading protected tiles from a local server, each task followed by CPU work on the
 * process's main thread (decoding, reprojecting), with tokens whose lifetime is compressed from an hour to seconds.
 * Tasks go to whichever process is free, as a pool hands them out. A fault can hit the leader midway: stopped
 * (SIGSTOP, then SIGCONT) or its main thread blocked.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TokenServer } from './token-server.js';
import type { PoolChildConfig, PoolCommand, PoolMessage } from './pool-scenario-child.js';

/** A command without its id (the runner numbers them). */
type Command = PoolCommand extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

export interface PoolScenario {
  readonly processes: number;
  readonly tiles: number;
  /** CPU work after each tile, ms: uniformly between these two. */
  readonly cpu: readonly [number, number];
  /** Token lifetime (s) and how long before expiry a session refreshes (ms): an hour and 120 s, compressed. */
  readonly lifetime: number;
  readonly refreshBeforeExpiry: number;
  readonly sharing: 'local' | 'memory';
  /** Hits the process leading at `after` (of the tasks handed out) — or, with memorySharing, process 0. */
  readonly fault?: { readonly kind: 'stop' | 'block'; readonly ms: number; readonly after: number } | undefined;
}

export interface PoolOutcome {
  readonly tokenRequests: number;
  readonly failed: number;
  readonly served: number;
  /** The longest getToken wait of any task, excluding tasks of the process the fault hit. */
  readonly longestWait: number;
  readonly elapsed: number;
  /** Usable token periods (lifetime less the refresh margin) the run touched: what one shared session may request. */
  readonly lifetimes: number;
  readonly errors: readonly string[];
}

/** Starts one pool process with `env` added (the bench forks itself; the test forks pool-scenario-main.ts). */
export type SpawnPoolChild = (env: Record<string, string>) => ChildProcess;

let runs = 0;

export async function runPoolScenario(server: TokenServer, spawn: SpawnPoolChild, scenario: PoolScenario): Promise<PoolOutcome> {
  const client = server.addClient(`pool-scenario-${process.pid}-${++runs}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'pool-scenario-'));
  server.lifetime = scenario.lifetime;
  const before = server.stats.tokenRequests;
  const config: PoolChildConfig = {
    tokenUrl: server.tokenUrl,
    clientId: client.id,
    clientSecret: client.secret,
    dir,
    sharing: scenario.sharing,
    refreshBeforeExpiry: scenario.refreshBeforeExpiry,
  };
  const children: Array<{ child: ChildProcess; leading: boolean; answers: Map<number, (message: PoolMessage) => void> }> = [];
  try {
    await Promise.all(
      Array.from({ length: scenario.processes }, async () => {
        const child = spawn({ POOL_SCENARIO_CHILD: JSON.stringify(config) });
        const member = { child, leading: false, answers: new Map<number, (message: PoolMessage) => void>() };
        children.push(member);
        await new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`a pool process exited (${code}) before it was ready`)));
          child.on('message', (message: PoolMessage) => {
            if ('event' in message && message.event === 'ready') resolve();
            else if ('event' in message && message.event === 'leader') member.leading = message.leading;
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
    const waits: number[] = [];
    const errors: string[] = [];
    let failed = 0;
    let served = 0;
    const worker = async (member: (typeof children)[number]): Promise<void> => {
      while (handedOut < scenario.tiles) {
        const index = handedOut++;
        if (scenario.fault !== undefined && faulted === undefined && index >= scenario.fault.after) {
          faulted = (scenario.sharing === 'local' ? children.find((each) => each.leading) : undefined) ?? children[0]!;
          faultDone = scenario.fault.kind === 'block' ? ask(faulted, { cmd: 'block', ms: scenario.fault.ms }) : stopFor(faulted.child, scenario.fault.ms);
        }
        const [low, high] = scenario.cpu;
        const cpu = low + Math.random() * (high - low);
        const answer = await ask(member, { cmd: 'tile', url: `${server.origin}/api/tiles/12/${index % 64}/${Math.floor(index / 64)}.png`, cpu });
        if (!('status' in answer)) continue;
        if (answer.status === 200) served++;
        else {
          failed++;
          errors.push(answer.error ?? `HTTP ${answer.status}`);
        }
        if (member !== faulted) waits.push(answer.wait);
      }
    };
    await Promise.all(children.map((member) => worker(member)));
    await faultDone;
    const elapsed = performance.now() - started;
    const usable = scenario.lifetime * 1000 - scenario.refreshBeforeExpiry;
    return {
      tokenRequests: server.stats.tokenRequests - before,
      failed,
      served,
      longestWait: Math.max(0, ...waits),
      elapsed,
      lifetimes: Math.floor(elapsed / usable) + 1,
      errors: [...new Set(errors)],
    };
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
    rmSync(dir, { recursive: true, force: true });
  }
}

/** SIGSTOP for `ms`, then SIGCONT: a process suspended (Ctrl-Z, a debugger, a VM paused), alive the whole time. */
async function stopFor(child: ChildProcess, ms: number): Promise<void> {
  child.kill('SIGSTOP');
  await new Promise((resolve) => setTimeout(resolve, ms));
  child.kill('SIGCONT');
}
