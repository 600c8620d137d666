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
    return this.#known()?.current ?? this.#start;
  }

  /**
   * True for a refresh token that has been exchanged already, or sent without an answer (sending it again would
   * revoke the grant) — by this provider or by another one of the same key in this process.
   */
  isSpent(refreshToken: string): boolean {
    const digest = hashKey(refreshToken);
    return this.#known()?.spent.has(digest) === true || grants.get(this.#key)?.spent.has(digest) === true;
  }

  /**
   * This grant as the process knows it: another provider of the same key may have spent our start token since we
   * were created (both sent it in one request: one sent, the other joined); then we continue from its newest.
   */
  #known(): Grant | undefined {
    if (this.#grant !== undefined) return this.#grant;
    const known = grants.get(this.#key);
    if (known === undefined || !known.spent.has(hashKey(this.#start))) return undefined;
    known.initial.add(hashKey(this.#start));
    return (this.#grant = known);
  }

  /** A refresh token from elsewhere (shared storage): it becomes current unless it was spent. */
  offer(refreshToken: string): void {
    if (this.isSpent(refreshToken)) return;
    const grant = this.#known();
    if (grant === undefined) this.#start = refreshToken;
    else grant.current = refreshToken;
  }

  /**
   * The server answered a request that sent `refreshToken` with a 2xx: spent, whatever the answer turns out to be
   * (an answer we refuse still rotated it at the server). Marked before the answer is read; `rotated` or `kept`
   * follows when the answer is good. Also a request that left and whose answer was lost: maybe spent, so spent.
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
    this.#known()?.spent.delete(hashKey(refreshToken));
    this.offer(refreshToken);
  }

  #record(spent: string, next: string): void {
    const grant = (this.#grant ??= this.#known() ?? { current: next, initial: new Set([hashKey(this.#start)]), spent: new Set() });
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
