import path from 'node:path';
import { forkTestProcess, stopTestProcesses, type TestProcess } from './test-process.js';
import type { WorkerConfig, WorkerEvent, WorkerRequest } from './redis-worker.js';

const script = path.resolve(import.meta.dirname, 'redis-worker.ts');

type Command = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** A server process of the fleet (see redis-worker.ts): send it commands, read what it told. */
export type FleetProcess = TestProcess<WorkerEvent, Command>;

/** Forks `count` processes and waits until each has connected to Redis; `capture` keeps their output (`output`). */
export function startFleet(
  count: number,
  config: WorkerConfig | ((index: number) => WorkerConfig),
  options: { capture?: boolean } = {},
): Promise<FleetProcess[]> {
  return Promise.all(
    Array.from({ length: count }, (_, index) =>
      forkTestProcess<WorkerEvent, Command>(script, { REDIS_WORKER: JSON.stringify(typeof config === 'function' ? config(index) : config) }, options),
    ),
  );
}

/** Closes every process that still runs (resuming a paused one first), and kills it if it does not exit in time. */
export const stopFleet: (fleet: readonly FleetProcess[]) => Promise<void> = stopTestProcesses;
