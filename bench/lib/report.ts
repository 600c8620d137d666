/**
 * `npm run bench -- --report`: bench/REPORT.md and its SVG charts (bench/charts/), from the results every bench wrote
 * (bench/lib/pairs.ts). Only what was measured in this run is written; nothing is edited by hand.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Machine } from './machine.js';
import { type BenchResult, formatRatio, formatSummary, median, type Row } from './pairs.js';
import { barChart, COLORS, stripChart } from './svg.js';

interface Section {
  readonly bench: string;
  readonly heading: string;
  /** Shown while the bench does not exist yet. */
  readonly pending?: string;
}

/**
 * The report's sections, in order; a section shows the rows of `<bench>.json` when that bench ran. A result whose
 * bench is not listed here still appears, after these.
 *
 */
const SECTIONS: readonly Section[] = [
  { bench: 'tabs', heading: 'Tabs in Chromium' },
  { bench: 'session', heading: 'The session in Node' },
  { bench: 'client', heading: 'createClient' },
  { bench: 'pool', heading: 'Session pool' },
  { bench: 'redis', heading: 'Redis fleet' },
  { bench: 'workers', heading: 'Cloudflare Workers', pending: 'durableObjectSharing vs memorySharing per request: not measured yet' },
  { bench: 'sign-in', heading: 'Sign-in, side by side with oidc-client-ts', pending: 'side by side with oidc-client-ts: not measured in this run' },
  {
    bench: 'dpop-sign-in',
    heading: 'DPoP sign-in, side by side with oidc-client-ts and auth0-spa-js',
    pending: 'DPoP keys, nonce round trips and reused refresh tokens next to the DPoP modes of oidc-client-ts and auth0-spa-js: not measured in this run',
  },
  { bench: 'local', heading: 'Local sharing across processes', pending: 'localSharing vs memorySharing in each process: not measured in this run' },
  { bench: 'process-pool', heading: 'A process pool downloading and computing tiles (the seed\'s scenario)', pending: 'not measured in this run' },
  { bench: 'thread-pool', heading: 'A piscina pool of threads downloading and computing tiles (the seed\'s scenario)', pending: 'not measured in this run' },
];

export function writeReport(resultsDir: string, outDir: string): string {
  const results = new Map<string, BenchResult>();
  if (existsSync(resultsDir)) {
    for (const file of readdirSync(resultsDir).filter((name) => name.endsWith('.json')).sort()) {
      const result = JSON.parse(readFileSync(path.join(resultsDir, file), 'utf8')) as BenchResult;
      results.set(result.bench, result);
    }
  }
  const chartsDir = path.join(outDir, 'charts');
  mkdirSync(chartsDir, { recursive: true });
  const charts = writeCharts(results, chartsDir);

  const lines: string[] = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench -- --report\` on ${new Date().toISOString().slice(0, 10)}. Every figure is a pair measured in the`,
    'same run: ours next to what an app would do without shared-session. Each pair runs in interleaved rounds',
    '(A B A B …, or A B then B A), and the table gives the median and min–max over the rounds of each side and of the',
    'ratio ours / baseline, taken per round, so that drift on the machine cancels out.',
    '',
    '> These figures come from a **shared 2-core machine** on which other engineers ran test suites at the same time.',
    '> Read the ratios; absolute numbers move with the load (the load average at the start of each bench is stated).',
    '',
    '## Machine',
    '',
    ...machineLines(results),
    '',
  ];
  const chart = (name: string, alt: string): string[] => (charts.has(name) ? [`![${alt}](charts/${name}.svg)`, ''] : []);
  lines.push(...chart('token-requests', 'Token requests at cold start: naive page vs shared session'));
  const listed = new Set(SECTIONS.map((section) => section.bench));
  const sections: Section[] = [...SECTIONS, ...[...results.keys()].filter((bench) => !listed.has(bench)).map((bench) => ({ bench, heading: bench }))];
  for (const section of sections) {
    const result = results.get(section.bench);
    lines.push(`## ${section.heading}`, '');
    if (result === undefined) {
      lines.push(`*${section.pending ?? 'not measured in this run'}.*`, '');
      continue;
    }
    lines.push(`\`bench/${result.bench}.ts\` — ${result.title.replace(/^shared-session: /, '')}.`, '', ...table(result.rows), '');
    for (const note of result.notes ?? []) lines.push(`- ${note}`);
    if (result.notes?.length) lines.push('');
    if (section.bench === 'thread-pool') lines.push(...chart('pool-token-requests', 'Token requests of a pool of 8 processes or threads, with and without a fault'));
    if (section.bench === 'sign-in') lines.push(...chart('sign-in', 'Sign-in in 8 tabs: oidc-client-ts vs shared-session'));
    if (section.bench === 'tabs') {
      lines.push(...chart('time-to-token', 'Follower time-to-token vs a bare BroadcastChannel message'));
      lines.push(...chart('takeover', 'Takeover after the leader is killed vs a bare Web Lock hand-over'));
    }
  }
  const file = path.join(outDir, 'REPORT.md');
  writeFileSync(file, `${lines.join('\n').trimEnd()}\n`);
  return file;
}

function table(rows: readonly Row[]): string[] {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  return [
    '| figure | ours | baseline | ratio ours / baseline | goal |',
    '|---|---|---|---|---|',
    ...rows.map((row) => {
      const unit = `${row.unit}, ${row.better === 'higher' ? 'higher' : 'lower'} is better`;
      const goal = row.goal === undefined ? '—' : `${row.goal}${row.met === undefined ? '' : row.met ? ' ✅' : ' ❌'}`;
      return `| ${cell(row.figure)} (${unit})${row.note ? `; ${cell(row.note)}` : ''} | ${cell(row.ours.label)}: **${formatSummary(row.ours.values)}** | ${cell(row.baseline.label)}: ${formatSummary(row.baseline.values)} | **${formatRatio(row)}** | ${cell(goal)} |`;
    }),
  ];
}

function machineLines(results: Map<string, BenchResult>): string[] {
  const machines = [...results.values()].map((result) => ({ bench: result.bench, machine: result.machine }));
  if (machines.length === 0) return ['*no bench ran.*'];
  const first: Machine = machines[0]!.machine;
  const chromium = machines.find((entry) => entry.machine.chromium)?.machine.chromium;
  const redis = machines.find((entry) => entry.machine.redis)?.machine.redis;
  return [
    `- ${first.cores} cores (${first.cpu}), ${first.memory}; Node ${first.node}${chromium ? `; Chromium ${chromium} (Debian, headless)` : ''}${redis ? `; redis-server ${redis}` : ''}`,
    `- load average (1 min) at the start of each bench: ${machines.map((entry) => `${entry.bench} ${entry.machine.load}`).join(', ')}`,
  ];
}

/** The pool chart's groups: a row of bench/process-pool.ts or bench/thread-pool.ts each, with a short label. */
const POOL_ROWS: ReadonlyArray<{ bench: string; id: string; label: string }> = [
  { bench: 'process-pool', id: 'pool-token-requests', label: 'processes' },
  { bench: 'process-pool', id: 'pool-stopped-token-requests', label: 'leader stopped' },
  { bench: 'process-pool', id: 'pool-blocked-token-requests', label: 'leader blocked' },
  { bench: 'thread-pool', id: 'threads-token-requests', label: 'threads' },
  { bench: 'thread-pool', id: 'threads-blocked-token-requests', label: 'thread blocked' },
];

/** The sign-in chart's groups: the sample names of bench/sign-in.ts and their short labels. */
const SIGN_IN_LABELS: Record<string, string> = {
  'refresh-requests': 'refresh requests',
  'reused-refresh-tokens': 'reused tokens',
  'revoked-grants': 'revoked grants',
  'failed-api-calls': 'failed API calls',
  'code-exchanges': 'code exchanges',
};

function writeCharts(results: Map<string, BenchResult>, dir: string): Set<string> {
  const written = new Set<string>();
  const write = (name: string, svg: string): void => {
    writeFileSync(path.join(dir, `${name}.svg`), svg);
    written.add(name);
  };
  const tabs = results.get('tabs');
  const requests = tabs?.samples?.['token-requests'];
  if (requests) {
    const groups = (requests.tabs ?? []).map((size, index) => ({
      label: `${size} tab${size === 1 ? '' : 's'}${requests.workers ? ' + 2 workers' : ''}`,
      bars: [
        { value: requests.naive![index]!, color: COLORS.baselineStrong },
        { value: requests.shared![index]!, color: COLORS.ours },
      ],
    }));
    const fleet = results.get('redis')?.rows.find((row) => row.id === 'redis-fleet-requests');
    if (fleet) {
      groups.push({
        label: '4 Node processes',
        bars: [
          { value: median(fleet.baseline.values), color: COLORS.baselineStrong },
          { value: median(fleet.ours.values), color: COLORS.ours },
        ],
      });
    }
    write(
      'token-requests',
      barChart({
        title: 'Token requests at cold start',
        subtitle: 'every tab (or process) wants a token at once; how many requests reach the token endpoint',
        yLabel: 'token requests',
        groups,
        legend: [
          { label: 'without: each tab / process fetches its own', color: COLORS.baselineStrong },
          { label: 'shared-session', color: COLORS.ours },
        ],
      }),
    );
  }
  const strips = Object.entries(tabs?.samples ?? {})
    .filter(([name]) => name.startsWith('time-to-token-'))
    .flatMap(([name, sides]) => {
      const size = name.slice('time-to-token-'.length);
      return [
        { label: `${size} tabs · shared-session`, values: sides.shared ?? [], color: COLORS.ours },
        { label: `${size} tabs · bare message`, values: sides.bare ?? [], color: '#888888' },
      ];
    });
  if (strips.length > 0) {
    write(
      'time-to-token',
      stripChart({
        title: 'Follower time-to-token after the leader got a new token',
        subtitle: 'each dot: one follower in one round; bare = one BroadcastChannel post to the same tabs',
        xLabel: 'ms after the leader holds the token',
        strips,
      }),
    );
  }
  const takeover = tabs?.samples?.takeover;
  if (takeover) {
    write(
      'takeover',
      stripChart({
        title: 'Takeover after the leader tab is killed',
        subtitle: "each dot: one kill; bare = the browser's Web Lock hand-over between tabs holding only a lock",
        xLabel: 'ms from the kill until another tab leads',
        strips: [
          { label: 'shared-session', values: takeover.shared ?? [], color: COLORS.ours },
          { label: 'bare Web Lock', values: takeover.bare ?? [], color: '#888888' },
        ],
      }),
    );
  }
  // The seed's scenario (a pool downloading and computing tiles): token requests per fault, processes and threads.
  const poolGroups = POOL_ROWS.flatMap(({ bench, id, label }) => {
    const row = results.get(bench)?.rows.find((candidate) => candidate.id === id);
    return row
      ? [{ label, bars: [{ value: median(row.baseline.values), color: COLORS.baselineStrong }, { value: median(row.ours.values), color: COLORS.ours }] }]
      : [];
  });
  if (poolGroups.length > 0) {
    write(
      'pool-token-requests',
      barChart({
        title: 'Token requests of a pool of 8 downloading and computing tiles',
        subtitle: 'the same tiles and token lifetime on both sides; a fault hits the leader midway',
        yLabel: 'token requests',
        groups: poolGroups,
        legend: [
          { label: 'without: each process / thread its own session', color: COLORS.baselineStrong },
          { label: 'shared-session (localSharing)', color: COLORS.ours },
        ],
      }),
    );
  }
  const signIn = results.get('sign-in')?.samples?.['sign-in'];
  if (signIn) {
    const sides = [
      { library: 'oidc-client-ts', label: 'oidc-client-ts (defaults)', color: COLORS.baselineStrong },
      { library: 'oidc-client-ts-tuned', label: 'oidc-client-ts (renews at ½ life)', color: '#ff9896' },
      { library: 'shared-session', label: 'shared-session', color: COLORS.ours },
    ].filter((side) => signIn[`${side.library}:refresh-requests`] !== undefined);
    const scenario = results.get('sign-in')?.rows[0]?.figure.replace(/^[^,]*, /, '') ?? '';
    write(
      'sign-in',
      barChart({
        title: 'Sign-in shared by tabs, with refresh-token rotation',
        subtitle: `${scenario}; median of the runs (rounded), counted by the provider and the pages`,
        yLabel: 'count',
        groups: Object.entries(SIGN_IN_LABELS).map(([metric, label]) => ({
          label,
          // Counts: the median of the runs, rounded to a whole count so that three labels fit over three bars.
          bars: sides.map((side) => ({ value: Math.round(median(signIn[`${side.library}:${metric}`] ?? [0])), color: side.color })),
        })),
        legend: sides.map(({ label, color }) => ({ label, color })),
      }),
    );
  }
  return written;
}
