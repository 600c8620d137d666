/**
 * The sign-out epoch as one link knows it. A sign-out is news when the stored epoch differs from the known one in a
 * way only a sign-out explains:
 * - higher: a `clear()` elsewhere;
 * - lower, read by a read sent after this link learnt its epoch: the record was wiped or rewritten (a forged value
 *   repaired), and whatever was written over it may be a sign-out that a counter restarted from 0 would hide.
 *
 * And every sign-out writes an epoch of at least its writer's time ({@link nextEpoch}), so that one written over a
 * lost record is higher than what the running links know (their epochs came from a counter, or from a time before).
 */
export class KnownEpoch {
  #value: number | undefined;
  /** Reads of the epoch sent so far, and how many had been sent when `#value` was last set. */
  #reads = 0;
  #readsWhenSet = 0;

  /** The epoch as last learnt; undefined before the first read. */
  get value(): number | undefined {
    return this.#value;
  }

  /** A read of the epoch is being sent: its number, for {@link KnownEpoch.learn}. */
  readSent(): number {
    return ++this.#reads;
  }

  /**
   * Learns `epoch` from read number `read` (undefined: a watch event, whose order with this link's reads is not
   * known). Returns whether it is a sign-out this link had not seen. `signingOut`: this link is writing one, so what
   * it reads meanwhile tells nothing new.
   */
  learn(epoch: number, read: number | undefined, signingOut: boolean): boolean {
    if (this.#value === undefined) {
      this.set(epoch);
      return false;
    }
    const wentBack = epoch < this.#value && read !== undefined && read > this.#readsWhenSet && !signingOut;
    if (epoch <= this.#value && !wentBack) return false; // known, or a read that crossed a newer sign-out
    this.set(epoch);
    return true;
  }

  /** This link wrote `epoch` (its own sign-out). */
  set(epoch: number): void {
    this.#value = epoch;
    this.#readsWhenSet = this.#reads;
  }
}

/**
 * The epoch a sign-out writes after `known` (the highest it read or knows): at least `now` (epoch ms), never lower
 * than `known + 1`. Whole ms, well inside `Number.MAX_SAFE_INTEGER` for the next 280 000 years.
 */
export function nextEpoch(known: number, now: number): number {
  const time = Math.floor(now);
  return Number.isSafeInteger(time) && time > known ? time : known + 1;
}
