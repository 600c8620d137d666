import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { LocalConfig, LocalEvent, LocalRequest } from './local-worker.js';

const script = path.resolve(import.meta.dirname, 'local-worker.ts');

type Command = LocalRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** A process of a local-sharing test (see local-worker.ts): send it commands, read what it told. */
export interface LocalProcess {
  readonly child: ChildProcess;
  /** Every event it sent so far, oldest first. */
  readonly events: LocalEvent[];
  request<T = Record<string, unknown>>(command: Command): Promise<T>;
  /** Resolves when the process sends an event matching `test` (also one already sent, from `since`). */
  waitFor(test: (event: LocalEvent) => boolean, since?: number, timeout?: number): Promise<LocalEvent>;
  /** Whether it is alive. */
  readonly alive: boolean;
  kill(signal?: NodeJS.Signals): void;
}

/** Forks `count` processes and waits until each has created its session. */
export function startProcesses(count: number, config: LocalConfig | ((index: number) => LocalConfig)): Promise<LocalProcess[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => startProcess(typeof config === 'function' ? config(index) : config)));
}

export async function startProcess(config: LocalConfig): Promise<LocalProcess> {
  const child = fork(script, {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, LOCAL_WORKER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const events: LocalEvent[] = [];
  const pending = new Map<number, (value: Record<string, unknown>) => void>();
  const watchers = new Set<() => void>();
  let next = 0;
  child.on('message', (message: LocalEvent | ({ id: number } & Record<string, unknown>)) => {
    if ('id' in message) {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
      return;
    }
    events.push(message);
    for (const watcher of watchers) watcher();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const member: LocalProcess = {
    child,
    events,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    request<T>(command: Command) {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, resolve as (value: Record<string, unknown>) => void);
        void exited.then(() => reject(new Error('the process exited')));
        child.send({ ...command, id });
      });
    },
    waitFor(test, since = 0, timeout = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error('timed out waiting for an event'));
        }, timeout);
        const check = (): void => {
          const found = events.slice(since).find(test);
          if (found === undefined) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        watchers.add(check);
        void exited.then(() => {
          if (!watchers.delete(check)) return;
          clearTimeout(timer);
          reject(new Error('the process exited'));
        });
        check();
      });
    },
    kill(signal = 'SIGKILL') {
      if (member.alive) child.kill(signal);
    },
  };
  await member.waitFor((event) => event.event === 'ready', 0, 20_000);
  return member;
}

/** Closes every process that still runs, and kills it if it does not exit in time. */
export async function stopProcesses(members: readonly LocalProcess[]): Promise<void> {
  await Promise.all(
    members.map(async (member) => {
      if (!member.alive) return;
      const exited = new Promise((resolve) => member.child.once('exit', resolve));
      try {
        member.child.send({ cmd: 'close', id: -1 });
      } catch {
        // already gone
      }
      const timer = setTimeout(() => member.kill(), 3_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Whichever of `members` says it leads now. */
export async function leaderOf(members: readonly LocalProcess[]): Promise<LocalProcess[]> {
  const statuses = await Promise.all(
    members.map(async (member) => (member.alive ? (await member.request<{ leading: boolean }>({ cmd: 'status' })).leading : false)),
  );
  return members.filter((_, index) => statuses[index]);
}
