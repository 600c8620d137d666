/**
 * When this link first saw a record in its current version (a versionstamp), by its own clock: how long a record has
 * stood unchanged is then known without comparing the writer's clock with ours.
 */
export class FirstSeen {
  #seen: { readonly versionstamp: string; readonly at: number } | undefined;

  /** How long (ms) `versionstamp` has been seen, by this clock: 0 the first time. */
  age(versionstamp: string, now: number): number {
    if (this.#seen?.versionstamp !== versionstamp) this.#seen = { versionstamp, at: now };
    return now - this.#seen.at;
  }

  forget(): void {
    this.#seen = undefined;
  }
}
