import { hashKey } from '../core/digest.js';

/**
 * The grants whose refresh token rotated in this process, by credential key, newest last. Bounded: a process that
 * sees more grants forgets the oldest (an app that must survive that, or a restart, stores tokens with `onRotate`).
 */
const grants = new Map<string, Grant>();
const MAX_GRANTS = 10_000;
/** Spent tokens remembered per grant besides the ones providers were created from (those are always kept). */
const MAX_SPENT = 64;

interface Grant {
  current: string;
  /** SHA-256 keys of the tokens providers were created from: the ones an app hands in again. */
  readonly initial: Set<string>;
  /** SHA-256 keys of spent tokens. Digests, so that spent secrets do not linger in memory. */
  readonly spent: Set<string>;
}

/**
 * One refresh-token grant's rotations as this process has seen them, shared by every provider of the same key: one
 * created from a token that has since been exchanged (a session evicted from a pool and created again from the app's
 * original token) continues from the newest one instead of sending the spent one.
 *
 * A class with nothing allocated until the first rotation: a pool may hold 100,000 providers that never rotate.
 */
export class Rotation {
  readonly #key: string;
  /** The token to send next, until the first rotation of this grant in this process. */
  #start: string;
  #grant: Grant | undefined;

  constructor(key: string, refreshToken: string) {
    this.#key = key;
    this.#start = refreshToken;
    const known = grants.get(key);
    if (known !== undefined && known.spent.has(hashKey(refreshToken))) {
      known.initial.add(hashKey(refreshToken));
      this.#grant = known;
    }
  }

  /** The refresh token to send next. */
  get current(): string {
    return this.#grant?.current ?? this.#start;
  }

  /** True for a refresh token that has been exchanged already (sending it again would revoke the grant). */
  isSpent(refreshToken: string): boolean {
    return this.#grant?.spent.has(hashKey(refreshToken)) === true;
  }

  /** A refresh token from elsewhere (shared storage): it becomes current unless it was spent. */
  offer(refreshToken: string): void {
    if (this.isSpent(refreshToken)) return;
    if (this.#grant === undefined) this.#start = refreshToken;
    else this.#grant.current = refreshToken;
  }

  /**
   * The server answered a request that sent `refreshToken` with a 2xx: spent, whatever the answer turns out to be
   * (an answer we refuse still rotated it at the server). Marked before the answer is read; `rotated` or `kept`
   * follows when the answer is good.
   */
  spend(refreshToken: string): void {
    this.#record(refreshToken, this.current);
  }

  /** The server exchanged `spent` for `next` (the same token when the server does not rotate: `kept`). */
  rotated(spent: string, next: string): void {
    if (next === spent) this.kept(spent);
    else this.#record(spent, next);
  }

  /** The server answered without a new refresh token: the one sent stays current (a server that does not rotate). */
  kept(refreshToken: string): void {
    this.#grant?.spent.delete(hashKey(refreshToken));
    this.offer(refreshToken);
  }

  #record(spent: string, next: string): void {
    const grant = (this.#grant ??= { current: next, initial: new Set([hashKey(this.#start)]), spent: new Set() });
    grant.spent.add(hashKey(spent));
    grant.current = next;
    for (const digest of grant.spent) {
      if (grant.spent.size <= MAX_SPENT + grant.initial.size) break;
      if (!grant.initial.has(digest)) grant.spent.delete(digest);
    }
    grants.delete(this.#key);
    grants.set(this.#key, grant);
    if (grants.size > MAX_GRANTS) grants.delete(grants.keys().next().value!);
  }
}
