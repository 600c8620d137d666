/**
 * What every benchmark reports: pairs. Each figure is measured next to its baseline (what a user would do instead) in
 * the same run, in interleaved rounds (A B A B …), so that drift on a busy machine hits both sides alike. A row keeps
 * every round's value of each side; the ratio is taken per round (ours_i / baseline_i) and summarized as median and
 * min–max, like each side.
 *
 * A bench prints its table and, when `BENCH_OUT` names a folder (`npm run bench -- --report` sets it), writes its
 * rows there as `<bench>.json` for the report (bench/lib/report.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeMachine, type Machine } from './machine.js';

/** `BENCH_SMOKE=1`: tiny sizes, so that the smoke test (test/node/bench-smoke.test.ts) runs every bench in seconds. */
export const smoke = process.env.BENCH_SMOKE === '1';

export interface Side {
  readonly label: string;
  /** One value per round (or a single one for counts, which do not drift). */
  readonly values: readonly number[];
}

export interface Row {
  /** Stable id, used by the report to pick rows for charts. */
  readonly id: string;
  readonly figure: string;
  /** Unit of both sides, e.g. `ops/s`, `ms`, `requests`, `B/session`. */
  readonly unit: string;
  /** Whether more is better (throughput) or less (times, bytes, requests). */
  readonly better: 'higher' | 'lower';
  readonly ours: Side;
  readonly baseline: Side;
  /** The goal, as the issue states it, e.g. `≤ 1.2×`. */
  readonly goal?: string;
  /** Whether the goal is met (set when the goal is a number to meet). */
  readonly met?: boolean;
  readonly note?: string;
  /** A count of events (requests, reused tokens…), where 0 is a real value on either side, not a failed measure. */
  readonly count?: boolean;
}

export interface BenchResult {
  readonly bench: string;
  readonly title: string;
  readonly machine: Machine;
  readonly rows: readonly Row[];
  /** Raw samples for the charts (e.g. every follower's time-to-token), keyed by chart. */
  readonly samples?: Record<string, Record<string, readonly number[]>>;
  readonly notes?: readonly string[];
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export function summarize(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Per-round ratios ours/baseline (when one side has a single value, it is paired with every round of the other). */
export function ratios(row: Pick<Row, 'ours' | 'baseline'>): number[] {
  const { ours, baseline } = row;
  const length = Math.max(ours.values.length, baseline.values.length);
  return Array.from({ length }, (_, index) => {
    const a = ours.values[Math.min(index, ours.values.length - 1)]!;
    const b = baseline.values[Math.min(index, baseline.values.length - 1)]!;
    return a / b;
  });
}

/**
 * The median of the per-round ratios of two sides: the ratio the tables print, so that a ratio goal ("≤ 1.2×") is
 * judged on the figure a reader sees.
 */
export function medianRatio(ours: readonly number[], baseline: readonly number[]): number {
  return median(ratios({ ours: { label: '', values: ours }, baseline: { label: '', values: baseline } }));
}

/** A number for a table: 3 significant digits, thousands separated. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function formatSummary(values: readonly number[], suffix = ''): string {
  const { median: middle, min, max } = summarize(values);
  if (values.length === 1 || min === max) return `${formatNumber(middle)}${suffix}`;
  return `${formatNumber(middle)}${suffix} (${formatNumber(min)}–${formatNumber(max)})`;
}

export function formatRatio(row: Row): string {
  const values = ratios(row);
  // A count that is 0 on the baseline side has no ratio (x / 0); the two sides say it all.
  if (!values.every(Number.isFinite)) return '—';
  return formatSummary(values, '×');
}

/** Prints the rows as a table and writes the result for the report when `BENCH_OUT` is set. */
export function report(result: Omit<BenchResult, 'machine'> & { machine?: Machine }): void {
  const full: BenchResult = { ...result, machine: result.machine ?? describeMachine() };
  const { machine } = full;
  console.log(`${full.title} — ${machine.cores} cores (${machine.cpu}), Node ${machine.node}${machine.chromium ? `, Chromium ${machine.chromium}` : ''}${machine.redis ? `, redis-server ${machine.redis}` : ''}`);
  console.log('median (min–max) over the rounds; ratio = ours / baseline, per round');
  console.table(
    Object.fromEntries(
      full.rows.map((row) => [
        row.figure,
        {
          [`ours`]: `${row.ours.label}: ${formatSummary(row.ours.values)} ${row.unit}`,
          [`baseline`]: `${row.baseline.label}: ${formatSummary(row.baseline.values)} ${row.unit}`,
          ratio: formatRatio(row),
          goal: `${row.goal ?? '—'}${row.met === undefined ? '' : row.met ? ' (met)' : ' (missed)'}`,
        },
      ]),
    ),
  );
  for (const note of full.notes ?? []) console.log(`note: ${note}`);
  const out = process.env.BENCH_OUT;
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, `${full.bench}.json`), `${JSON.stringify(full, null, 2)}\n`);
  }
}
