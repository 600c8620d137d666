import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const benches = readdirSync(path.join(root, 'bench'))
  .filter((name) => name.endsWith('.ts') && name !== 'run.ts')
  .map((name) => name.replace(/\.ts$/, ''));
const reportDir = mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(reportDir, { recursive: true, force: true }));

/**
 * What starting one Node process that loads the built package costs on this machine now (ms, the median of 3): the
 * benches start dozens of processes (process-pool.ts 12 and more, local.ts 10), so on a loaded machine that is most
 * of their time. Measured before the tests are declared, so that their limits can follow it.
 */
async function processStart(): Promise<number> {
  const times: number[] = [];
  for (let index = 0; index < 3; index++) {
    const started = performance.now();
    await run(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(path.join(root, 'dist', 'index.js'))})`], { cwd: root, timeout: 60_000 });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[1]!;
}
const startup = await processStart();
/**
 * A bench that hangs still fails: 40 s (the limit on an idle machine, where a start costs about 0.1 s) plus 40
 * process starts at what one costs here and now.
 */
const limit = Math.round(40_000 + 40 * startup);

/** `npm run bench` with tiny sizes (`--smoke`), against the built package; bounded by `limit`. */
function bench(...args: string[]): Promise<{ stdout: string }> {
  return run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', ...args], {
    cwd: root,
    timeout: limit,
    maxBuffer: 16 * 2 ** 20,
  });
}

/**
 * Benches run two at a time: at smoke sizes most of a bench's time is waiting (tokens of 2 s, a tab's calls every
 * 500 ms, processes and browsers starting), and no figure is checked, so two side by side prove the same as one
 * after the other, in about half the time.
 */
const LANES = 2;
const lanes = { free: LANES, waiting: [] as Array<() => void> };
async function inLane<T>(work: () => Promise<T>): Promise<T> {
  if (lanes.free === 0) await new Promise<void>((resolve) => lanes.waiting.push(resolve));
  else lanes.free--;
  try {
    return await work();
  } finally {
    const next = lanes.waiting.shift();
    if (next === undefined) lanes.free++;
    else next();
  }
}

/**
 * Every benchmark runs, with tiny sizes, so that none can rot; no figure is checked (no timing in tests), only that
 * each bench finishes and reports pairs, and that the report and its charts are written from them. Each bench is
 * bounded by `limit` (its process is killed then); a test also waits for a lane, so its own bound covers the benches
 * that may run before it.
 */
describe(`benchmarks, smoke run (a process starts in ${Math.round(startup)} ms here: ${limit / 1000} s each)`, () => {
  // Concurrent tests assert with their own `expect`, so that a failure is told of the right bench.
  it.concurrent.for(benches)('bench/%s.ts runs and reports pairs', { timeout: Math.ceil(benches.length / LANES) * limit + 5_000 }, async (name, { expect }) => {
    expect(existsSync(path.join(root, 'dist', 'index.js')), 'run `npm run build` first').toBe(true);
    const { stdout } = await inLane(() => bench(`${name}.ts`));
    expect(stdout).toContain('ratio = ours / baseline');
    const result = JSON.parse(readFileSync(path.join(root, 'node_modules/.cache/shared-session-bench/results-smoke', `${name}.json`), 'utf8')) as {
      rows: Array<{ count?: boolean; ours: { values: number[] }; baseline: { values: number[] } }>;
    };
    expect(result.rows.length).toBeGreaterThan(0);
    for (const row of result.rows) {
      expect(row.ours.values.length).toBeGreaterThan(0);
      // A count of events (reused refresh tokens, failed calls) may be 0 on either side; a time or a rate may not.
      const valid = (value: number): boolean => (row.count === true ? Number.isInteger(value) && value >= 0 : Number.isFinite(value) && value > 0);
      expect(row.baseline.values.every(valid)).toBe(true);
      if (row.count === true) expect(row.ours.values.every(valid)).toBe(true);
    }
  });

  it('--report writes REPORT.md and the charts from those results', async () => {
    await bench('--report-only', '--report-dir', reportDir);
    const report = readFileSync(path.join(reportDir, 'REPORT.md'), 'utf8');
    expect(report).toContain('shared 2-core machine');
    for (const name of benches) expect(report).toContain(`bench/${name}.ts`);
    for (const chart of ['token-requests', 'time-to-token', 'takeover', 'sign-in']) {
      expect(report).toContain(`charts/${chart}.svg`);
      expect(readFileSync(path.join(reportDir, 'charts', `${chart}.svg`), 'utf8')).toMatch(/^<svg [^>]*xmlns='http:\/\/www\.w3\.org\/2000\/svg'/);
    }
  }, 45_000);
});
