import type { TestProcess } from '../support/test-process.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import { type SoakReport, type Usage, type Window, growthOf, inside, longestGaps } from './report.js';
import { schedule } from './schedule.js';
import type { SoakLoopResult } from './process-loop.js';

// The process soaks (Redis fleet, local sharing): N processes of one credential run the call loop of
// process-loop.ts on 3 s tokens while a seeded schedule of the transport's faults runs.

export const LIFETIME = 3;
export const MARGIN = 1000;
/** The token endpoint takes this long, so that a kill "mid-fetch" has a request to land in. */
export const LATENCY = 300;

type SoakEventOf = { event: 'soak'; kind: 'failed' | 'expired'; at: number; detail: string };
type Member = TestProcess<{ event: string }, { cmd: string; [option: string]: unknown }>;

export interface Fleet {
  readonly members: Member[];
  /** Starts one more process (a replacement for a killed one). */
  add(): Promise<Member>;
}

export interface FaultContext {
  readonly fleet: Fleet;
  readonly tokens: TokenServer;
  readonly pick: number;
  /** Extra token requests in this window are explained by the fault. */
  explainRequests(from: number, to: number): void;
  /** Failed calls (and a context's time without a token) in this window are explained by the fault. */
  explainFailures(from: number, to: number): void;
  note(line: string): void;
}

export async function soakProcesses<K extends string>(options: {
  transport: string;
  seed: number;
  duration: number;
  log: (line: string) => void;
  count: number;
  kinds: Readonly<Record<K, number>>;
  gap: number;
  start(tokens: TokenServer, client: { id: string; secret: string }): Promise<Fleet>;
  inject(kind: K, context: FaultContext): Promise<void>;
  stop(fleet: Fleet): Promise<void>;
}): Promise<SoakReport> {
  const { seed, duration, log } = options;
  const tokens = await startTokenServer();
  const client = tokens.addClient('soak');
  tokens.lifetime = LIFETIME;
  tokens.latency = LATENCY;
  const issued: number[] = [];
  const successes = new Map<string, number[]>();
  tokens.route((req, _res, url) => {
    if (url.pathname === '/token' && req.method === 'POST') issued.push(Date.now() + LATENCY);
    return false;
  });
  const fleet = await options.start(tokens, client);
  const requestWindows: Window[] = [];
  const failureWindows: Window[] = [];
  const notes: string[] = [];
  const failures: Array<{ name: string; event: SoakEventOf }> = [];
  const expired: string[] = [];
  const watched = new Set<Member>();
  const names = new Map<Member, string>();
  const results = new Map<Member, Promise<SoakLoopResult | undefined>>();

  const baseline = new Map<Member, { heap: number; handles: number }>();
  /** Starts the call loop of `member`, and takes its baseline after 2 s of warm-up (replacements too). */
  async function begin(member: Member): Promise<void> {
    names.set(member, `process${names.size}`);
    watched.add(member);
    await member.request({ cmd: 'soak-start', every: 50 });
    setTimeout(() => {
      if (!member.alive) return;
      member.request<{ heap: number; handles: number }>({ cmd: 'usage' }).then(
        (usage) => baseline.set(member, usage),
        () => undefined,
      );
    }, 2_000);
  }
  for (const member of fleet.members) await begin(member);
  await new Promise((resolve) => setTimeout(resolve, 2_500));

  const faults = schedule<K>(seed, { duration, gap: options.gap, quiet: 6_000, kinds: options.kinds });
  log(`${options.transport}: seed ${seed}, ${faults.length} faults in ${(duration / 1000).toFixed(0)} s: ${faults.map((fault) => `${(fault.at / 1000).toFixed(1)}s ${fault.kind}`).join(', ')}`);
  const counts: Record<string, number> = {};
  const started = Date.now();
  const issuedBefore = issued.length;
  const requestsBefore = tokens.stats.tokenRequests;
  const knownMembers = new Set(fleet.members);
  for (const fault of faults) {
    const wait = started + fault.at - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    counts[fault.kind] = (counts[fault.kind] ?? 0) + 1;
    await options.inject(fault.kind, {
      fleet,
      tokens,
      pick: fault.pick,
      explainRequests: (from, to) => requestWindows.push({ from, to, kind: fault.kind }),
      explainFailures: (from, to) => failureWindows.push({ from, to, kind: fault.kind }),
      note: (line) => notes.push(line),
    });
    for (const member of fleet.members) {
      if (knownMembers.has(member)) continue;
      knownMembers.add(member);
      await begin(member);
    }
  }
  const rest = started + duration - Date.now();
  if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  const seconds = (Date.now() - started) / 1000;

  const usage: Usage[] = [];
  for (const member of [...watched]) {
    if (!member.alive) continue;
    results.set(member, member.request<SoakLoopResult>({ cmd: 'soak-stop' }).catch(() => undefined));
  }
  let apiCalls = 0;
  for (const [member, pending] of results) {
    const result = await pending;
    if (result === undefined) continue;
    apiCalls += result.calls;
    successes.set(names.get(member)!, result.successes);
    const start = baseline.get(member);
    if (start === undefined) continue;
    const end = await member.request<{ heap: number; handles: number }>({ cmd: 'usage' });
    usage.push({ name: names.get(member)!, heapStart: start.heap, heapEnd: end.heap, listenersStart: start.handles, listenersEnd: end.handles });
  }
  for (const member of watched) {
    for (const event of member.events as unknown as SoakEventOf[]) {
      if (event.event !== 'soak') continue;
      if (event.kind === 'expired') expired.push(`${names.get(member)}: ${event.detail}`);
      else if (event.at >= started) failures.push({ name: names.get(member)!, event });
    }
  }
  const tokenRequests = tokens.stats.tokenRequests - requestsBefore;
  await options.stop(fleet);
  await tokens.close();

  // An outage may delay or fail a call, but never explains a token the API refuses: that one was handed out dead.
  const unexplained = failures.filter(({ event }) => inside(failureWindows, event.at) === undefined || event.detail === 'HTTP 401');
  const refreshEvery = LIFETIME * 1000 - MARGIN;
  const runIssued = issued.slice(issuedBefore);
  const extra: string[] = [];
  for (let index = 1; index < runIssued.length; index++) {
    const [previous, current] = [runIssued[index - 1]!, runIssued[index]!];
    const explained = requestWindows.some((window) => window.from <= current && window.to >= previous);
    if (!explained && current - previous < refreshEvery - 700) extra.push(`at ${((current - started) / 1000).toFixed(1)} s, ${current - previous} ms after the previous one`);
  }
  const gaps = longestGaps(successes, [...failureWindows, ...requestWindows]);
  const errorEvents = new Map<string, number>();
  for (const member of watched) {
    for (const event of member.events as unknown as Array<{ event: string; code?: string }>) {
      if (event.event === 'error' && event.code !== undefined) errorEvents.set(event.code, (errorEvents.get(event.code) ?? 0) + 1);
    }
  }
  if (usage.length === 0) notes.push('no process lived 2 s after its start until the end: no memory comparison');
  const details = new Map<string, number>();
  for (const { event } of failures) details.set(event.detail, (details.get(event.detail) ?? 0) + 1);
  return {
    transport: options.transport,
    seed,
    seconds,
    faults: counts,
    tokenLifetime: LIFETIME,
    refreshEvery: refreshEvery / 1000,
    tokensIssued: runIssued.length,
    tokenRequests,
    extraRequests: extra,
    apiCalls,
    unexplainedFailures: unexplained.map(({ name, event }) => `${name} at ${((event.at - started) / 1000).toFixed(1)} s: ${event.detail}`),
    explainedFailures: failures.length - unexplained.length,
    expiredHandedOut: expired,
    longestWithoutToken: { ...gaps.explained, at: gaps.explained.at - started },
    longestWithoutTokenOverall: gaps.overall,
    usage,
    growth: growthOf(usage),
    notes: [
      ...notes,
      `failed calls by reason: ${[...details].map(([detail, count]) => `${detail} ${count}`).join(', ') || 'none'}`,
      `error events: ${[...errorEvents].map(([code, count]) => `${code} ${count}`).join(', ') || 'none'}`,
    ],
  };
}

/** The process of `members` whose provider starts a token request next (within `timeout` ms), or undefined. */
export async function nextFetching(members: readonly Member[], timeout: number): Promise<Member | undefined> {
  const marks = members.map((member) => member.events.length);
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const found = members.find((member, index) => member.alive && member.events.slice(marks[index]).some((event) => event.event === 'fetching'));
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}
