// The seeded random schedule of a soak: the same seed and duration give the same faults at the same times.

/** mulberry32: a small, fast 32-bit PRNG with a good spread, enough to draw a schedule. Returns [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Fault<K extends string> {
  /** ms after the start of the chaos phase. */
  readonly at: number;
  readonly kind: K;
  /** A second draw, for the fault's own choices (which tab, how long). */
  readonly pick: number;
}

/**
 * Faults of `kinds` (drawn with their weights) every `gap` ms on average (uniform in 0.5–1.5 × gap), from `start`
 * until `duration - quiet`, so that the run ends with a quiet period in which everything must have recovered.
 */
export function schedule<K extends string>(
  seed: number,
  options: { duration: number; gap: number; start?: number; quiet: number; kinds: Readonly<Record<K, number>> },
): Array<Fault<K>> {
  const random = prng(seed);
  const kinds = Object.entries(options.kinds) as Array<[K, number]>;
  const total = kinds.reduce((sum, [, weight]) => sum + weight, 0);
  const faults: Array<Fault<K>> = [];
  for (let at = (options.start ?? 0) + options.gap * (0.5 + random()); at < options.duration - options.quiet; at += options.gap * (0.5 + random())) {
    let draw = random() * total;
    const kind = kinds.find(([, weight]) => (draw -= weight) < 0)?.[0] ?? kinds[0]![0];
    faults.push({ at: Math.round(at), kind, pick: random() });
  }
  return faults;
}

/** A random seed for a run that was not given one (printed, so that it can be replayed). */
export function freshSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
