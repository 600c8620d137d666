import { rememberNewest } from './nonces.js';
/**
 * How far each server's clock is from ours, learnt from its answers' `Date` header (RFC 9110 §6.6.1), so that a
 * proof's `iat` is dated by the clock of the server that checks it (RFC 9449 §4.3 step 11 allows it a window of
 * seconds to minutes): a machine whose clock is 2 minutes off would otherwise have every proof refused.
 *
 * Kept per server, as the nonces are (`nonces.ts`: an API by its origin, the provider's endpoints apart): a server
 * whose `Date` is wrong (or hostile) only changes the proofs that server checks.
 */
export interface DPoPClockOffsets {
  /** The server's offset in milliseconds (its clock minus ours), if one was learnt. */
  get(server: string): number | undefined;
  set(server: string, offset: number): void;
}

/**
 * An offset within this is no offset: `Date` has a one-second resolution and is written before the answer travels,
 * so a reading is up to a second plus the answer's travel time off, and a synchronised clock would be made worse by
 * it. Servers' `iat` windows are far wider than 5 s (oidc-provider 300 s, oauth4webapi's 30 s tolerance, ±60 s in
 * common resource servers), so only a clock that is really off is corrected.
 */
export const IGNORED_OFFSET = 5_000;
/**
 * A `Date` further off than this is not believed: a server that far off is broken or hostile, and no machine whose
 * clock drifted a day still completes a TLS handshake (its certificates checks use that clock).
 */
export const LARGEST_OFFSET = 24 * 60 * 60 * 1000;
/** RFC 9110 §5.6.7 IMF-fixdate, the only form a server may send (`Sun, 06 Nov 1994 08:49:37 GMT`). */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Offsets in this context's memory, the newest 100 servers. */
export function memoryClockOffsets(): DPoPClockOffsets {
  const offsets = new Map<string, number>();
  return {
    get: (server) => offsets.get(server),
    set: (server, offset) => rememberNewest(offsets, server, offset),
  };
}

/**
 * The offset `response`'s `Date` tells (its server's clock minus `now`, in ms): 0 within `IGNORED_OFFSET`;
 * `undefined` for no `Date`, one that is not an IMF-fixdate, or one more than `LARGEST_OFFSET` off.
 */
export function clockOffsetOf(response: Response, now: number): number | undefined {
  const header = response.headers.get('date')?.trim();
  if (header === undefined || !IMF_FIXDATE.test(header)) return undefined;
  const date = Date.parse(header);
  if (!Number.isFinite(date) || !Number.isFinite(now)) return undefined;
  // The server's clock read somewhere within that second: its middle is the best guess.
  const offset = date + 500 - now;
  if (Math.abs(offset) > LARGEST_OFFSET) return undefined;
  return Math.abs(offset) <= IGNORED_OFFSET ? 0 : Math.round(offset);
}
