/**
 * What the seed's scenario is the same for, whether a pool of processes (pool-scenario.ts) or a piscina pool of threads
 * (thread-pool-scenario.ts) takes the tasks: the tasks themselves (tiles, CPU work, compressed token lifetimes), the
 * run's setup against the local token server, and how its answers are counted into one outcome.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TokenServer } from './token-server.js';
import type { TileAnswer, TileWorkerConfig } from './pool-tile-worker.js';

/** The tasks of one run, whoever takes them. */
export interface PoolTasks {
  readonly tiles: number;
  /** CPU work after each tile, ms: uniformly between these two. */
  readonly cpu: readonly [number, number];
  /** Token lifetime (s) and how long before expiry a session refreshes (ms): an hour and 120 s, compressed. */
  readonly lifetime: number;
  readonly refreshBeforeExpiry: number;
  /** `local`: one session for the pool (localSharing); `memory`: each process or thread its own session. */
  readonly sharing: 'local' | 'memory';
}

export interface PoolOutcome {
  readonly tokenRequests: number;
  readonly failed: number;
  readonly served: number;
  /** The longest getToken wait of any task, excluding tasks of the process or thread the fault hit. */
  readonly longestWait: number;
  /** The longest getToken wait before the fault hit (cold start included): what a wait costs in this run. */
  readonly longestWaitBeforeFault: number;
  /**
   * The cold start: the longest wait of the tasks that asked before the pool's first token was handed out (an election
   * and a token request, at whatever speed the machine gives them).
   */
  readonly coldStart: number;
  /** The longest wait of the tasks that asked after that, of contexts the fault did not hit: the steady state. */
  readonly longestSteadyWait: number;
  /** How many times a process or thread became the leader: 1 when nobody ever replaced the first. */
  readonly leaderships: number;
  readonly elapsed: number;
  /** Usable token periods (lifetime less the refresh margin) the run touched: what one shared session may request. */
  readonly lifetimes: number;
  readonly errors: readonly string[];
}

let runs = 0;

/** One run's setup: its own client on the token server and its own rendezvous directory (removed by `end`). */
export function startPoolRun(server: TokenServer, tasks: PoolTasks): { readonly config: TileWorkerConfig; readonly name: string; end(): void } {
  const name = `pool-scenario-${process.pid}-${++runs}`;
  const client = server.addClient(name);
  const dir = mkdtempSync(path.join(tmpdir(), 'pool-scenario-'));
  server.lifetime = tasks.lifetime;
  const config: TileWorkerConfig = {
    tokenUrl: server.tokenUrl,
    clientId: client.id,
    clientSecret: client.secret,
    dir,
    sharing: tasks.sharing,
    refreshBeforeExpiry: tasks.refreshBeforeExpiry,
  };
  return {
    config,
    name,
    end: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The tile of task `index`, and the CPU time (ms) that follows it. */
export function tileTask(server: TokenServer, tasks: PoolTasks, index: number): { readonly url: string; readonly cpu: number } {
  const [low, high] = tasks.cpu;
  return { url: `${server.origin}/api/tiles/12/${index % 64}/${Math.floor(index / 64)}.png`, cpu: low + Math.random() * (high - low) };
}

/** Counts a run's answers into its outcome. */
export class PoolTally {
  readonly #server: TokenServer;
  readonly #tasks: PoolTasks;
  readonly #before: number;
  readonly #waits: number[] = [];
  readonly #waitsBeforeFault: number[] = [];
  readonly #errors: string[] = [];
  readonly #answers: Array<{ readonly askedAt: number; readonly wait: number; readonly faulted: boolean }> = [];
  #leaderships = 0;
  #failed = 0;
  #served = 0;

  constructor(server: TokenServer, tasks: PoolTasks) {
    this.#server = server;
    this.#tasks = tasks;
    this.#before = server.stats.tokenRequests;
  }

  /**
   * `faulted`: the answer comes from the process or thread the fault hit (its waits are not the others'); `faultHit`:
   * the fault has hit by now.
   */
  add(answer: TileAnswer, faulted: boolean, faultHit: boolean): void {
    if (answer.status === 200) this.#served++;
    else {
      this.#failed++;
      this.#errors.push(answer.error ?? `HTTP ${answer.status}`);
    }
    if (!faulted) this.#waits.push(answer.wait);
    if (!faultHit) this.#waitsBeforeFault.push(answer.wait);
    this.#answers.push({ askedAt: answer.askedAt, wait: answer.wait, faulted });
  }

  /** A process or thread said it leads now. */
  led(): void {
    this.#leaderships++;
  }

  /** Read when the tasks are done, before the sessions close (a closing session requests nothing, but time passes). */
  outcome(elapsed: number): PoolOutcome {
    const usable = this.#tasks.lifetime * 1000 - this.#tasks.refreshBeforeExpiry;
    // `askedAt` is `performance.timeOrigin + performance.now()`: one timeline for every process and thread.
    const firstToken = Math.min(...this.#answers.map((answer) => answer.askedAt + answer.wait));
    const cold = this.#answers.filter((answer) => answer.askedAt < firstToken);
    const steady = this.#answers.filter((answer) => answer.askedAt >= firstToken && !answer.faulted);
    return {
      tokenRequests: this.#server.stats.tokenRequests - this.#before,
      failed: this.#failed,
      served: this.#served,
      longestWait: Math.max(0, ...this.#waits),
      longestWaitBeforeFault: Math.max(0, ...this.#waitsBeforeFault),
      coldStart: Math.max(0, ...cold.map((answer) => answer.wait)),
      longestSteadyWait: Math.max(0, ...steady.map((answer) => answer.wait)),
      leaderships: this.#leaderships,
      elapsed,
      lifetimes: Math.floor(elapsed / usable) + 1,
      errors: [...new Set(this.#errors)],
    };
  }
}
