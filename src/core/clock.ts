/** Where the session reads the time. Injectable so tests (and apps with a server-synchronised clock) control it. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
