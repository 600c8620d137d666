import path from 'node:path';
import type { LocalConfig, LocalEvent } from './local-worker.js';
import type { BusyRequest } from './busy-local-worker.js';
import { forkTestProcess, stopTestProcesses, type TestProcess } from './test-process.js';

const script = path.resolve(import.meta.dirname, 'busy-local-worker.ts');

type Command = BusyRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** A process of busy-local-worker.ts: local-worker.ts's session, plus `block` (CPU work) and `getOne` (timed). */
export type BusyProcess = TestProcess<LocalEvent, Command>;

export function startBusyProcess(config: LocalConfig): Promise<BusyProcess> {
  return forkTestProcess<LocalEvent, Command>(script, { BUSY_LOCAL_WORKER: JSON.stringify(config) });
}

export const stopBusyProcesses: (members: readonly BusyProcess[]) => Promise<void> = stopTestProcesses;
