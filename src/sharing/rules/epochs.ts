/**
 * Sign-outs as epochs, for a transport whose contexts share a store (Redis, Deno KV…): a counter beside the token
 * that every sign-out increments, never a wall-clock time (clocks differ between machines, and step). What a
 * context reads from the store is current only if it belongs to the epoch it knows; a token fetched under an older
 * epoch is never stored or handed out.
 *
 * One `SignOutEpochs` per connected session. The transport reads the stored epoch with whatever it reads (a token,
 * a lock, a liveness check), noting {@link SignOutEpochs.mark} when it sends the read, and passes both to
 * {@link SignOutEpochs.observe}, which tells it whether the read is current and calls `signedOut` when the epoch says
 * that a sign-out happened that this context has not applied yet.
 */
export class SignOutEpochs {
  readonly #signedOut: () => void;
  /** The epoch as last seen in the store or a sign-out message; undefined before the first read. */
  #epoch: number | undefined;
  /** Bumped whenever `#epoch` changes: a read sent before that is stale. */
  #changes = 0;
  /** Sign-outs of this context in flight: a higher epoch read meanwhile is probably ours. */
  #clearing = 0;

  /** `signedOut`: a sign-out made elsewhere, to apply here (drop the token, say so). */
  constructor(signedOut: () => void) {
    this.#signedOut = signedOut;
  }

  /** The epoch known here (0 before the first read: a store without one has had no sign-out). */
  get known(): number {
    return this.#epoch ?? 0;
  }

  /** Note this when a read is sent, and pass it to `observe` with what the read found. */
  get mark(): number {
    return this.#changes;
  }

  /**
   * Compares `stored`, read by a read sent at `mark`, with the epoch known here, and returns whether what that read
   * found is current. A higher epoch is a sign-out this context missed (its messages were lost). A lower one is
   * either a read that crossed a newer sign-out (stale: ignored) or the store having lost its data (a restart
   * without persistence, a flush, a failover to a replica behind), and with it perhaps a sign-out: both sign this
   * context out, so that nothing issued before a sign-out survives.
   */
  observe(stored: number, mark: number): boolean {
    if (this.#epoch === undefined) {
      this.#set(stored);
      return true;
    }
    if (stored === this.#epoch) return true;
    if (stored < this.#epoch && mark !== this.#changes) return false;
    const own = stored > this.#epoch && this.#clearing > 0;
    this.#set(stored);
    // Most likely this context's own sign-out, read before its write answered: it dropped everything when it began,
    // and what started after it belongs to the new epoch.
    if (!own) this.#signedOut();
    return true;
  }

  /** A sign-out message (or this context's own sign-out answered) says the epoch is now `epoch`. */
  advance(epoch: number): boolean {
    if (this.#epoch !== undefined && epoch <= this.#epoch) return false;
    this.#set(epoch);
    return true;
  }

  /**
   * The store lost its epoch (and perhaps a sign-out with it) under a write that started before: this context is
   * signed out, and the epoch is the store's again (0, as a missing one reads) until the next read says more.
   */
  lost(): void {
    this.#set(0);
    if (this.#clearing === 0) this.#signedOut();
  }

  /** Runs this context's own sign-out: epochs read meanwhile are taken as its own. */
  async clearing<T>(run: () => Promise<T>): Promise<T> {
    this.#clearing++;
    try {
      return await run();
    } finally {
      this.#clearing--;
    }
  }

  #set(epoch: number): void {
    this.#epoch = epoch;
    this.#changes++;
  }
}
