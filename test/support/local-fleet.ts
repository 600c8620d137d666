import path from 'node:path';
import type { LocalConfig, LocalEvent, LocalRequest } from './local-worker.js';
import { forkTestProcess, stopTestProcesses, type TestProcess } from './test-process.js';

const script = path.resolve(import.meta.dirname, 'local-worker.ts');

type Command = LocalRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** A process of a local-sharing test (see local-worker.ts): send it commands, read what it told. */
export type LocalProcess = TestProcess<LocalEvent, Command>;

/** Forks `count` processes and waits until each has created its session. */
export function startProcesses(count: number, config: LocalConfig | ((index: number) => LocalConfig)): Promise<LocalProcess[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => startProcess(typeof config === 'function' ? config(index) : config)));
}

/** `env` adds to the process's environment (LOCAL_TAP: record what it writes, for the secrets scan). */
export function startProcess(config: LocalConfig, env: Record<string, string> = {}): Promise<LocalProcess> {
  return forkTestProcess<LocalEvent, Command>(script, { ...env, LOCAL_WORKER: JSON.stringify(config) });
}

/** Closes every process that still runs, and kills it if it does not exit in time. */
export const stopProcesses: (members: readonly LocalProcess[]) => Promise<void> = stopTestProcesses;

/** Whichever of `members` says it leads now. */
export async function leaderOf(members: readonly LocalProcess[]): Promise<LocalProcess[]> {
  const statuses = await Promise.all(
    members.map(async (member) => (member.alive ? (await member.request<{ leading: boolean }>({ cmd: 'status' })).leading : false)),
  );
  return members.filter((_, index) => statuses[index]);
}
