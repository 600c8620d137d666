/**
 * When this link first saw a record in its current version (a versionstamp), by its own clock: how long a record has
 * stood unchanged is then known without comparing the writer's clock with ours.
 */
export class FirstSeen {
  #seen: { readonly versionstamp: string; readonly at: number } | undefined;

  /** When (epoch ms, this clock) `versionstamp` was first seen: `now` the first time. */
  since(versionstamp: string, now: number): number {
    if (this.#seen?.versionstamp !== versionstamp) this.#seen = { versionstamp, at: now };
    return this.#seen.at;
  }

  /** How long (ms) `versionstamp` has been seen, by this clock: 0 the first time. */
  age(versionstamp: string, now: number): number {
    return now - this.since(versionstamp, now);
  }

  /**
   * Whether `versionstamp` is older than the version seen last: a read that was on its way while the record changed.
   * KV gives a key an ever-increasing versionstamp at every write (fixed-length hex, so strings compare).
   */
  isOlder(versionstamp: string): boolean {
    return this.#seen !== undefined && versionstamp < this.#seen.versionstamp;
  }

  forget(): void {
    this.#seen = undefined;
  }
}
