// What a soak run measured, the invariants it checks, and how it prints.

export interface Window {
  readonly from: number;
  readonly to: number;
  readonly kind: string;
}

export interface Usage {
  readonly name: string;
  /** Bytes of JS heap after a garbage collection (tabs: CDP; processes: process.memoryUsage). */
  readonly heapStart: number;
  readonly heapEnd: number;
  /** Tabs: JS event listeners (CDP Memory.getDOMCounters); processes: active handles and requests. */
  readonly listenersStart: number;
  readonly listenersEnd: number;
}

export interface SoakReport {
  readonly transport: string;
  readonly seed: number;
  readonly seconds: number;
  readonly faults: Record<string, number>;
  readonly tokenLifetime: number;
  /** Seconds between a token's issue and its scheduled replacement (lifetime − refreshBeforeExpiry). */
  readonly refreshEvery: number;
  /** Token requests that got a token, and all of them (injected failures and retries included). */
  readonly tokensIssued: number;
  readonly tokenRequests: number;
  /** Tokens issued earlier than the refresh schedule allows, with no fault to explain them. */
  readonly extraRequests: readonly string[];
  readonly apiCalls: number;
  /** Failed calls with no sign-out or injected outage to explain them; a 401 (a token the API refused) always counts. */
  readonly unexplainedFailures: readonly string[];
  /** Failed calls inside a sign-out or an outage window. */
  readonly explainedFailures: number;
  readonly expiredHandedOut: readonly string[];
  /** The longest time a context had no successful API call, outside sign-outs and outages (ms), and where. */
  readonly longestWithoutToken: { readonly ms: number; readonly context: string; readonly at: number };
  readonly longestWithoutTokenOverall: number;
  readonly usage: readonly Usage[];
  /** Growth beyond the stated bound, one line per context. */
  readonly growth: readonly string[];
  readonly notes: readonly string[];
}

/** Heap may grow by this much (caches warm up, JIT code), listeners by this many, between the start and the end. */
export const GROWTH_BOUND = { heapFactor: 1.5, heapBytes: 4 * 1024 * 1024, listeners: 10 } as const;

export function growthOf(usage: readonly Usage[]): string[] {
  return usage.flatMap((entry) => {
    const problems: string[] = [];
    if (entry.heapEnd > entry.heapStart * GROWTH_BOUND.heapFactor + GROWTH_BOUND.heapBytes) {
      problems.push(`${entry.name}: heap ${mb(entry.heapStart)} → ${mb(entry.heapEnd)}`);
    }
    if (entry.listenersEnd > entry.listenersStart + GROWTH_BOUND.listeners) {
      problems.push(`${entry.name}: listeners ${entry.listenersStart} → ${entry.listenersEnd}`);
    }
    return problems;
  });
}

export function inside(windows: readonly Window[], at: number): Window | undefined {
  return windows.find((window) => at >= window.from && at <= window.to);
}

/** The longest gap between two successful calls of one context, outside `windows`, from per-context success times. */
export function longestGaps(
  successes: ReadonlyMap<string, readonly number[]>,
  windows: readonly Window[],
): { explained: { ms: number; context: string; at: number }; overall: number } {
  let explained = { ms: 0, context: '', at: 0 };
  let overall = 0;
  for (const [context, times] of successes) {
    for (let index = 1; index < times.length; index++) {
      const gap = times[index]! - times[index - 1]!;
      overall = Math.max(overall, gap);
      const overlaps = windows.some((window) => window.from <= times[index]! && window.to >= times[index - 1]!);
      if (!overlaps && gap > explained.ms) explained = { ms: gap, context, at: times[index - 1]! };
    }
  }
  return { explained, overall };
}

/** Every invariant that broke, as sentences (empty: the run held). */
export function violations(report: SoakReport): string[] {
  return [
    ...report.extraRequests.map((line) => `extra token request: ${line}`),
    ...report.unexplainedFailures.map((line) => `failed API call outside a sign-out or outage: ${line}`),
    ...report.expiredHandedOut.map((line) => `expired token handed out: ${line}`),
    ...report.growth.map((line) => `growth beyond the bound: ${line}`),
  ];
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function format(report: SoakReport): string {
  const lifetimes = report.seconds / report.tokenLifetime;
  const lines = [
    `== ${report.transport}: seed ${report.seed}, ${report.seconds.toFixed(0)} s of chaos`,
    `faults injected: ${Object.entries(report.faults).map(([kind, count]) => `${kind} ${count}`).join(', ') || 'none'}`,
    `token requests: ${report.tokenRequests} (${report.tokensIssued} issued, ${report.tokenRequests - report.tokensIssued} failed or stalled by injection); ` +
      `${(report.tokensIssued / lifetimes).toFixed(2)} issued per ${report.tokenLifetime} s token lifetime (${(report.tokenLifetime / report.refreshEvery).toFixed(2)} by the refresh schedule); extra outside faults: ${report.extraRequests.length}`,
    `API calls: ${report.apiCalls}; failed outside a sign-out or outage: ${report.unexplainedFailures.length}; failed inside one: ${report.explainedFailures}`,
    `expired tokens handed out: ${report.expiredHandedOut.length}`,
    `longest without a valid token: ${report.longestWithoutToken.ms} ms outside faults (${report.longestWithoutToken.context || '-'}), ${report.longestWithoutTokenOverall} ms overall`,
    ...report.usage.map(
      (entry) =>
        `  ${entry.name}: heap ${mb(entry.heapStart)} → ${mb(entry.heapEnd)}, listeners/handles ${entry.listenersStart} → ${entry.listenersEnd}`,
    ),
    ...report.notes.map((note) => `note: ${note}`),
  ];
  const broken = violations(report);
  lines.push(broken.length === 0 ? 'invariants: all held' : `invariants BROKEN:\n  ${broken.join('\n  ')}`);
  return lines.join('\n');
}
