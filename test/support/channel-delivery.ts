import { ELECTION_RESPONSE_TIME } from '../../src/sharing/browser/election.js';
import { DEFAULT_ANSWER_TIMEOUT } from '../../src/sharing/browser/sharing.js';
import type { TrafficEntry } from '../browser/fixtures/tab.js';

/** How long the browser took to bring one context's BroadcastChannel message to another, as traced in the pages. */
export interface Delivery {
  readonly from: number;
  readonly to: number;
  readonly sentAt: number;
  readonly ms: number;
  readonly message: string;
}

/**
 * Every delivery between the traced tabs (`trace` in the tab fixture: each tab's traffic, in tab order) of a message
 * sent before `until`: a message received by a tab is matched with the latest send of the same message on the same
 * channel by another tab before it. Times are the pages' (one wall clock of the machine). Slowest first.
 */
export function deliveries(traffic: ReadonlyArray<readonly TrafficEntry[]>, until = Number.POSITIVE_INFINITY): Delivery[] {
  const sends = traffic.flatMap((entries, from) => entries.filter((entry) => entry.sent !== undefined).map((entry) => ({ from, entry })));
  const found: Delivery[] = [];
  for (const [to, entries] of traffic.entries()) {
    for (const entry of entries) {
      if (entry.received === undefined) continue;
      let send: (typeof sends)[number] | undefined;
      for (const candidate of sends) {
        const { from, entry: sent } = candidate;
        const matches = from !== to && sent.channel === entry.channel && sent.sent === entry.received && sent.at <= entry.at;
        if (matches && (send === undefined || sent.at > send.entry.at)) send = candidate;
      }
      if (send === undefined || send.entry.at > until) continue;
      found.push({ from: send.from, to, sentAt: send.entry.at, ms: entry.at - send.entry.at, message: entry.received });
    }
  }
  return found.sort((a, b) => b.ms - a.ms);
}

/** broadcast-channel's election without Web Locks: `responseTime`. */
const ELECTION_RESPONSE_MS = ELECTION_RESPONSE_TIME;
/** How long a follower waits for its leader's answer before it asks itself (the browser transport's default). */
const ANSWER_TIMEOUT_MS = DEFAULT_ANSWER_TIMEOUT;

/**
 * The message election's promise (docs/browser.md, Degradations), judged from the tabs' logs and traced traffic
 * (`trace`) after each tab got its token: the tabs agree on one leader, which alone asks for the token, as long as
 * messages arrive within the election's response time (150 ms). A tab that hears no answer in time leads too, and a
 * follower whose leader does not answer within answerTimeout (2 s) asks itself. So: exactly 1 request and one token
 * when the browser delivered every message within 150 ms; when it did not, every request comes from a tab that led
 * when it asked (or, with a message slower than 2 s, from a follower that waited that long), one per tab at most, and
 * a second leader only after a message between it and the one before came late within the second of its election.
 * Returns what broke the promise (empty: kept) and the timeline to show with it.
 */
export function judgeMessageElection(run: {
  readonly logs: ReadonlyArray<ReadonlyArray<{ readonly at: number; readonly event: string; readonly detail?: string | boolean }>>;
  readonly traffic: ReadonlyArray<readonly TrafficEntry[]>;
  readonly tokens: readonly string[];
  readonly requests: number;
}): { readonly broken: string[]; readonly timeline: string } {
  const { logs, traffic, tokens, requests } = run;
  const handedOut = Math.max(...logs.flat().filter((entry) => entry.event === 'token').map((entry) => entry.at));
  const all = deliveries(traffic, handedOut);
  const slowest = all[0]?.ms ?? 0;
  const timeline = JSON.stringify({
    requests,
    slowest: all[0],
    logs: logs.map((log) => log.map(({ at, event, detail }) => [Math.round(at - handedOut), event, detail])),
  });
  const broken: string[] = [];
  if (slowest <= ELECTION_RESPONSE_MS) {
    if (requests !== 1) broken.push(`${requests} token requests, every message delivered within ${slowest.toFixed(0)} ms`);
    if (new Set(tokens).size !== 1) broken.push(`${new Set(tokens).size} tokens, every message delivered within ${slowest.toFixed(0)} ms`);
    return { broken, timeline };
  }
  const fetched = logs.map((log) => log.filter((entry) => entry.event === 'token' && entry.detail === 'endpoint'));
  if (requests !== fetched.flat().length) broken.push(`${requests} token requests, ${fetched.flat().length} tokens fetched by the tabs`);
  const ledSince = logs.map((log) => log.find((entry) => entry.event === 'leader' && entry.detail === true)?.at ?? Number.POSITIVE_INFINITY);
  const askers = [...fetched.keys()].filter((index) => fetched[index]!.length > 0).sort((a, b) => ledSince[a]! - ledSince[b]!);
  for (const [rank, index] of askers.entries()) {
    if (fetched[index]!.length > 1) broken.push(`tab ${index} fetched ${fetched[index]!.length} tokens`);
    if (ledSince[index]! > fetched[index]![0]!.at && slowest <= ANSWER_TIMEOUT_MS) broken.push(`tab ${index} fetched without leading`);
    if (rank === 0 || slowest > ANSWER_TIMEOUT_MS) continue;
    const before = askers[rank - 1]!;
    const late = all.some(
      (delivery) =>
        delivery.ms > ELECTION_RESPONSE_MS &&
        ((delivery.from === before && delivery.to === index) || (delivery.from === index && delivery.to === before)) &&
        delivery.sentAt <= ledSince[index]! &&
        delivery.sentAt >= ledSince[index]! - 1_000,
    );
    if (!late) broken.push(`tab ${index} led beside tab ${before} though their messages came in time`);
  }
  return { broken, timeline };
}
