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

/** `npm run bench` with tiny sizes (`--smoke`), against the built package; one bench at a time. */
function bench(...args: string[]): Promise<{ stdout: string }> {
  return run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', ...args], {
    cwd: root,
    timeout: 40_000,
    maxBuffer: 16 * 2 ** 20,
  });
}

/**
 * Every benchmark runs, with tiny sizes, so that none can rot; no figure is checked (no timing in tests), only that
 * each bench finishes and reports pairs, and that the report and its charts are written from them.
 */
describe.sequential('benchmarks, smoke run', () => {
  it.each(benches)('bench/%s.ts runs and reports pairs', async (name) => {
    expect(existsSync(path.join(root, 'dist', 'index.js')), 'run `npm run build` first').toBe(true);
    const { stdout } = await bench(name);
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
  }, 45_000);

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
