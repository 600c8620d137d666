import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { WorkerConfig, WorkerEvent, WorkerRequest } from './redis-worker.js';

const script = path.resolve(import.meta.dirname, 'redis-worker.ts');

type Command = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** A server process of the fleet (see redis-worker.ts): send it commands, read what it told. */
export interface FleetProcess {
  readonly child: ChildProcess;
  /** Every event it sent so far, oldest first. */
  readonly events: WorkerEvent[];
  request<T = Record<string, unknown>>(command: Command): Promise<T>;
  /** Resolves when the process sends an event matching `test` (also one already sent, from `since`). */
  waitFor(test: (event: WorkerEvent) => boolean, since?: number): Promise<WorkerEvent>;
  kill(signal?: NodeJS.Signals): void;
}

/** Forks `count` processes and waits until each has connected to Redis. */
export async function startFleet(count: number, config: WorkerConfig | ((index: number) => WorkerConfig)): Promise<FleetProcess[]> {
  return Promise.all(
    Array.from({ length: count }, (_, index) => startProcess(typeof config === 'function' ? config(index) : config)),
  );
}

async function startProcess(config: WorkerConfig): Promise<FleetProcess> {
  const child = fork(script, {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_WORKER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const events: WorkerEvent[] = [];
  const pending = new Map<number, (value: Record<string, unknown>) => void>();
  const watchers = new Set<() => void>();
  let next = 0;
  child.on('message', (message: WorkerEvent | ({ id: number } & Record<string, unknown>)) => {
    if ('id' in message) {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
      return;
    }
    events.push(message);
    for (const watcher of watchers) watcher();
  });
  const fleetProcess: FleetProcess = {
    child,
    events,
    request<T>(command: Command) {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, resolve as (value: Record<string, unknown>) => void);
        child.once('exit', () => reject(new Error('the process exited')));
        child.send({ ...command, id });
      });
    },
    waitFor(test, since = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.slice(since).find(test);
          if (found === undefined) return;
          watchers.delete(check);
          resolve(found);
        };
        watchers.add(check);
        child.once('exit', () => reject(new Error('the process exited')));
        check();
      });
    },
    kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  await fleetProcess.waitFor((event) => event.event === 'ready');
  return fleetProcess;
}

/** Closes every process that still runs, and kills it if it does not exit in time. */
export async function stopFleet(fleet: readonly FleetProcess[]): Promise<void> {
  await Promise.all(
    fleet.map(async (member) => {
      const { child } = member;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        child.kill('SIGCONT');
        child.send({ cmd: 'close', id: -1 });
      } catch {
        // already gone
      }
      const timer = setTimeout(() => member.kill(), 3_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}
