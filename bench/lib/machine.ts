/** The machine a figure was measured on: stated next to every table, since an absolute number means little without it. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly memory: string;
  readonly node: string;
  /** Set by the benches that use it. */
  readonly chromium?: string;
  readonly redis?: string;
  /** Load average (1 min) when the bench started: other work on the machine shows here. */
  readonly load: number;
}

function version(command: string, args: string[], pattern: RegExp): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).match(pattern)?.[1];
  } catch {
    return undefined;
  }
}

export function describeMachine(options: { chromium?: boolean; redis?: boolean } = {}): Machine {
  const chromium = options.chromium ? version('/usr/bin/chromium', ['--version'], /(\d+(?:\.\d+)+)/) : undefined;
  const redis = options.redis ? version('/usr/bin/redis-server', ['--version'], /v=(\S+)/) : undefined;
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    ...(chromium === undefined ? {} : { chromium }),
    ...(redis === undefined ? {} : { redis }),
    load: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
