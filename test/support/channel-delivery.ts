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
