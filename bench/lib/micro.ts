/**
 * In-process micro-benchmarks as pairs, measured with tinybench. Each round is one tinybench `Bench` holding ours
 * and the baseline (A B in even rounds, B A in odd ones); rounds repeat, so the sides interleave and each round gives
 * one ratio.
 * A task runs `batch` operations per call, so that operations of a few nanoseconds are not lost in the timer.
 */
import { Bench } from 'tinybench';
import { smoke } from './pairs.js';

export interface MicroTask {
  readonly label: string;
  /** One call = `batch` operations. */
  readonly fn: () => unknown;
  readonly batch?: number;
}

export interface MicroOptions {
  readonly rounds?: number;
  /** Time per task per round, ms. */
  readonly time?: number;
}

/** Operations per second of each side, one value per round. */
export async function microPair(ours: MicroTask, baseline: MicroTask, options: MicroOptions = {}): Promise<{ ours: number[]; baseline: number[] }> {
  const rounds = smoke ? 2 : (options.rounds ?? 7);
  const time = smoke ? 1 : (options.time ?? 400);
  const result = { ours: [] as number[], baseline: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    // tinybench runs a task at least `iterations` times (64 by default) however short `time` is: in the smoke run, a
    // few calls prove the task runs (bench/client.ts's 64 calls were 1,024 requests per side and round).
    const sizes = smoke ? { iterations: 2, warmupTime: 1, warmupIterations: 1 } : { warmupTime: Math.min(100, time / 4) };
    const bench = new Bench({ time, ...sizes, throws: true });
    // A B, then B A: neither side always runs on the JIT and sockets the other one warmed.
    const order = round % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const);
    for (const name of order) bench.add(name, (name === 'ours' ? ours : baseline).fn);
    await bench.run();
    for (const [name, task] of [['ours', ours], ['baseline', baseline]] as const) {
      const measured = bench.getTask(name)?.result;
      if (measured?.state !== 'completed') throw new Error(`${task.label}: ${measured?.state ?? 'no result'}`);
      result[name].push(((task.batch ?? 1) * 1000) / measured.period);
    }
  }
  return result;
}
