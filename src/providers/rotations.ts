import { hashKey } from '../core/digest.js';

/** One refresh-token grant's rotations as this process has seen them. */
export interface Rotation {
  /** The refresh token to send next. */
  readonly current: string;
  /** True for a refresh token that has been exchanged already (sending it again would revoke the grant). */
  isSpent(refreshToken: string): boolean;
  /** A refresh token from elsewhere (shared storage): it becomes current unless it was spent. */
  offer(refreshToken: string): void;
  /** The server exchanged `spent` for `next`. */
  rotated(spent: string, next: string): void;
}

/**
 * The grants whose refresh token rotated in this process, by credential key, newest last. Bounded: a process that
 * sees more grants forgets the oldest (an app that must survive that, or a restart, stores tokens with `onRotate`).
 */
const grants = new Map<string, Grant>();
const MAX_GRANTS = 10_000;
/** Spent tokens remembered per grant besides the ones providers were created with (those are always kept). */
const MAX_SPENT = 64;

interface Grant {
  current: string;
  /** SHA-256 keys of the tokens providers were created from: the ones an app hands in again. */
  readonly initial: Set<string>;
  /** SHA-256 keys of the most recently spent tokens. Digests, so that spent secrets do not linger in memory. */
  readonly spent: Set<string>;
}

/**
 * The rotation state of grant `key` for a provider created from `refreshToken`: shared with every provider of the
 * same key in this process, so that one created from a token that has since been exchanged continues from the
 * newest one.
 */
export function rotationOf(key: string, refreshToken: string): Rotation {
  let own: Grant = { current: refreshToken, initial: new Set([hashKey(refreshToken)]), spent: new Set() };
  const known = grants.get(key);
  if (known !== undefined && known.spent.has(hashKey(refreshToken))) {
    // Created from a token this process exchanged: continue the rotation instead of starting over.
    known.initial.add(hashKey(refreshToken));
    own = known;
  }
  const isSpent = (token: string): boolean => own.spent.has(hashKey(token));
  return {
    get current() {
      return own.current;
    },
    isSpent,
    offer(token) {
      if (!isSpent(token)) own.current = token;
    },
    rotated(spent, next) {
      own.spent.add(hashKey(spent));
      own.current = next;
      for (const digest of own.spent) {
        if (own.spent.size <= MAX_SPENT + own.initial.size) break;
        if (!own.initial.has(digest)) own.spent.delete(digest);
      }
      grants.delete(key);
      grants.set(key, own);
      if (grants.size > MAX_GRANTS) grants.delete(grants.keys().next().value!);
    },
  };
}
