import { type Clock, systemClock } from '../core/clock.js';
import { SessionError } from '../core/errors.js';
import type { GetTokenOptions } from '../core/options.js';
import type { Session } from '../core/session.js';
import { hashKey } from '../core/digest.js';
import type { Token } from '../core/token.js';

/** What `createSessionPool` takes. Only `create` is required. */
export interface SessionPoolOptions {
  /**
   * Creates the session for a key on a miss, e.g. `createSession({ provider: refreshTokenGrant({ … }) })` for a user.
   * It gets the key in clear; the pool itself keeps only a SHA-256 hash of it.
   */
  readonly create: (key: string) => Session;
  /** Most sessions kept open; the least recently used idle one is closed to make room. Default 1000. */
  readonly max?: number | undefined;
  /** Close a session nobody has used for this long (ms). Default 900 000 (15 min); `Infinity` keeps sessions. */
  readonly idleTtl?: number | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
}

/** Counters since the pool was created, and its current size. */
export interface SessionPoolStats {
  /** Sessions open in the pool now. */
  readonly size: number;
  /** Lookups that found an open session. */
  readonly hits: number;
  /** Lookups that had to create a session. */
  readonly misses: number;
  /** Sessions closed to stay within `max`. */
  readonly evictions: number;
  /** Sessions closed after `idleTtl` without use. */
  readonly expirations: number;
}

/** One session per user or credential key, for servers that act for many users. */
export interface SessionPool {
  /**
   * The session for `key`, created on first use. Eviction may close it once you stop using it; for a call that must
   * not be interrupted, use `getToken`.
   */
  get(key: string): Session;
  /** `get(key).getToken(options)`, with the session kept out of eviction until the call settles. */
  getToken(key: string, options?: GetTokenOptions): Promise<Token>;
  /** Whether an open session for `key` is in the pool (does not count as a use). */
  has(key: string): boolean;
  /** Closes and removes the session for `key`; false when there was none. */
  delete(key: string): Promise<boolean>;
  readonly stats: SessionPoolStats;
  /** Closes every session; the pool cannot be used afterwards. */
  close(): Promise<void>;
}

export const DEFAULT_POOL_MAX = 1000;
export const DEFAULT_POOL_IDLE_TTL = 900_000;

class Entry {
  /** Calls in progress through `getToken`: such an entry is never evicted or expired. */
  busy = 0;
  constructor(
    readonly session: Session,
    public lastUsed: number,
  ) {}
}

/**
 * Creates a pool of sessions keyed by user or credential.
 *
 * @example
 * const pool = createSessionPool({
 *   max: 10_000,
 *   create: (userId) => createSession({ provider: refreshTokenGrant({ tokenUrl, clientId, refreshToken: tokens.get(userId) }) }),
 * });
 * const token = await pool.getToken(userId);
 */
export function createSessionPool(options: SessionPoolOptions): SessionPool {
  const { create, max = DEFAULT_POOL_MAX, idleTtl = DEFAULT_POOL_IDLE_TTL, clock = systemClock } = options;
  if (typeof create !== 'function') throw new SessionError('invalid_options', 'createSessionPool needs create(key)');
  if (!Number.isInteger(max) || max < 1) throw new SessionError('invalid_options', 'max must be an integer ≥ 1');
  if (!(idleTtl > 0)) throw new SessionError('invalid_options', 'idleTtl must be a number of ms > 0 (or Infinity)');

  // Map order is the LRU order: a use moves the entry to the end, so the oldest entries come first.
  const entries = new Map<string, Entry>();
  const closing = new Set<Promise<void>>();
  let hits = 0;
  let misses = 0;
  let evictions = 0;
  let expirations = 0;
  let closed = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;

  const assertOpen = (): void => {
    if (closed) throw new SessionError('closed', 'The session pool was closed');
  };

  const retire = (id: string, entry: Entry): void => {
    entries.delete(id);
    const done = entry.session.close().finally(() => closing.delete(done));
    closing.add(done);
    if (entries.size === 0) stopSweeper();
  };

  const isExpired = (entry: Entry, now: number): boolean => entry.busy === 0 && now - entry.lastUsed >= idleTtl;

  const sweep = (): void => {
    const now = clock.now();
    for (const [id, entry] of entries) {
      if (isExpired(entry, now)) {
        retire(id, entry);
        expirations++;
      } else if (entry.busy === 0) {
        break; // LRU order: every entry after this one was used more recently
      }
    }
  };

  const startSweeper = (): void => {
    if (sweeper !== undefined || !Number.isFinite(idleTtl)) return;
    sweeper = setInterval(sweep, Math.min(60_000, Math.max(50, idleTtl / 2)));
    // A pool must not keep a Node or Deno process alive on its own.
    (sweeper as { unref?: () => void }).unref?.();
  };

  const stopSweeper = (): void => {
    if (sweeper !== undefined) clearInterval(sweeper);
    sweeper = undefined;
  };

  /** Closes the least recently used idle sessions beyond `max`; never `keep`, the one a caller is about to get. */
  const evictOverflow = (keep?: Entry): void => {
    if (entries.size <= max) return;
    for (const [id, entry] of entries) {
      if (entries.size <= max) break;
      if (entry.busy > 0 || entry === keep) continue;
      retire(id, entry);
      evictions++;
    }
  };

  const acquire = (key: string): Entry => {
    assertOpen();
    if (typeof key !== 'string' || key === '') throw new SessionError('invalid_options', 'A pool key must be a non-empty string');
    const id = hashKey(key);
    const now = clock.now();
    const found = entries.get(id);
    if (found !== undefined) {
      if (!isExpired(found, now)) {
        hits++;
        found.lastUsed = now;
        entries.delete(id);
        entries.set(id, found);
        return found;
      }
      retire(id, found);
      expirations++;
    }
    misses++;
    const entry = new Entry(create(key), now);
    entries.set(id, entry);
    startSweeper();
    evictOverflow(entry);
    return entry;
  };

  return {
    get: (key) => acquire(key).session,
    async getToken(key, getTokenOptions) {
      const entry = acquire(key);
      entry.busy++;
      try {
        return await entry.session.getToken(getTokenOptions);
      } finally {
        entry.busy--;
        entry.lastUsed = clock.now();
        evictOverflow();
      }
    },
    has(key) {
      const entry = typeof key === 'string' ? entries.get(hashKey(key)) : undefined;
      return entry !== undefined && !isExpired(entry, clock.now());
    },
    async delete(key) {
      const id = hashKey(key);
      const entry = entries.get(id);
      if (entry === undefined) return false;
      retire(id, entry);
      await entry.session.close();
      return true;
    },
    get stats() {
      return { size: entries.size, hits, misses, evictions, expirations };
    },
    async close() {
      if (closed) return;
      closed = true;
      stopSweeper();
      for (const [id, entry] of entries) retire(id, entry);
      await Promise.all(closing);
    },
  };
}
