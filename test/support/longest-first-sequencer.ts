import { statSync } from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that took longest in the full run of 2026-12-07 on a loaded machine (seconds), so that a fresh clone, with
 * no durations cached, still starts them first (examples.test.ts, new, had started 5 minutes into its group). Keep the
 * list short: it only has to name the files that would otherwise start last and finish after everything else
 * (vitest's default order is by project name, then by file size: the demo started after the 88 browser files,
 * bench-smoke after the larger node files).
 */
const KNOWN_SECONDS: Readonly<Record<string, number>> = {
  'test/deno/deno-kv.test.ts': 182,
  'test/node/examples.test.ts': 162,
  'test/node/bench-smoke.test.ts': 160,
  'test/demo/demo.test.ts': 153,
  'test/workers/cloudflare.test.ts': 133,
  'test/engines/dpop-leader-killed.test.ts': 97,
  'test/soak/reliability.test.ts': 87,
  'test/workers/spent-initial-refresh-token.test.ts': 84,
  'test/browser/dpop-maps-service-worker.test.ts': 83,
  'test/local/fleet.test.ts': 72,
  'test/engines/dpop-sign-in.test.ts': 70,
  'test/engines/hostile-input.test.ts': 64,
  'test/browser/oidc-callback.test.ts': 61,
  'test/redis/clock-skew.test.ts': 58,
  'test/redis/fleet.test.ts': 58,
  'test/local/pool-scenario.test.ts': 56,
  'test/engines/takeover.test.ts': 54,
  'test/local/thread-pool-scenario.test.ts': 53,
  'test/workers/lease-renewal.test.ts': 51,
};

/** What a file of unknown duration is guessed to take: a second per 500 bytes of test code (the suite's median). */
const GUESSED_BYTES_PER_SECOND = 500;

/**
 * Longest first within each group (`sequence.groupOrder`), whatever the project: a group ends when its last file
 * does, so the long files must not be the last to start. A file's weight is its duration cached by the last run on
 * this machine, else its entry in KNOWN_SECONDS, else a guess from its size. Groups keep their order.
 */
export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const weight = new Map<TestSpecification, number>();
    for (const spec of files) {
      const file = path.relative(root, spec.moduleId).split(path.sep).join('/');
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${file}`)?.duration;
      const known = KNOWN_SECONDS[file];
      weight.set(spec, cached ?? (known === undefined ? (statSync(spec.moduleId).size / GUESSED_BYTES_PER_SECOND) * 1000 : known * 1000));
    }
    return [...files].sort(
      (a, b) => a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder || weight.get(b)! - weight.get(a)!,
    );
  }
}
