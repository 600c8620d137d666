import { type Clock, systemClock } from '../core/clock.js';
import type { DPoPRequest, SessionDPoP } from '../core/dpop.js';
import { isSessionError, SessionError } from '../core/errors.js';
import type { SessionEvents } from '../core/session-core.js';
import type { GetTokenOptions } from '../core/options.js';
import type { Session } from '../core/session.js';
import type { SessionSnapshot, SnapshotListener } from '../core/store.js';
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
  /**
   * Called when a session the pool closes by itself (eviction, idle expiry, `close()` of the pool) fails to close,
   * e.g. because its transport's connection is already gone. The pool has dropped the session either way. Without
   * it such failures are ignored; they never become unhandled rejections. A `SessionError` from the session is
   * passed as is; anything else is wrapped as `sharing_unavailable` with the original as `cause`.
   */
  readonly onError?: ((error: SessionError) => void) | undefined;
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
   * The session for `key`, created on first use (a lookup: it counts as a use). The pool never closes it while one of
   * its `getToken` calls is in progress (nor while an Earth Engine operation of `earthEngine({ session })` runs on it):
   * beyond `max`, the least recently used idle session goes instead, and when every session is in use the pool
   * exceeds `max` until a call settles. An idle session may be closed by eviction or `idleTtl`: get it again for the
   * next call instead of keeping it. `close()` on it removes it from the pool.
   */
  get(key: string): Session;
  /** `get(key).getToken(options)`. */
  getToken(key: string, options?: GetTokenOptions): Promise<Token>;
  /** Whether an open session for `key` is in the pool (does not count as a use). */
  has(key: string): boolean;
  /** Closes and removes the session for `key`; false when there was none. */
  delete(key: string): Promise<boolean>;
  readonly stats: SessionPoolStats;
  /** Closes every session; the pool cannot be used afterwards. */
  close(): Promise<void>;
}

/** The sessions a pool keeps by default (`max`); beyond it the least recently used idle one is closed. */
export const DEFAULT_POOL_MAX = 1000;
/** How long (ms) a pooled session may stay unused by default (`idleTtl`): 15 minutes. */
export const DEFAULT_POOL_IDLE_TTL = 900_000;

/**
 * The key of a pooled session's hold: `session[HOLD]()` keeps it out of eviction and idle expiry until the returned
 * function is called. `Symbol.for`, so that the presets (which must not import server code) reach it across bundles
 * (src/presets/api-call.ts names the same symbol).
 */
const HOLD = Symbol.for('shared-session.pool.hold');

/** What a pooled session needs from its pool. */
interface PoolInternals {
  hold(entry: Entry): () => void;
  remove(entry: Entry): Promise<void>;
}

/**
 * A pooled session: the pool's record of it, and the `Session` that `get` hands out, whose `getToken` calls count as
 * uses in progress. One object per session, methods on the prototype: pools hold up to 100,000 sessions (a separate
 * handle object cost about 60 bytes more each).
 */
class Entry implements Session {
  /** Calls in progress (getToken, held operations): such an entry is never evicted or expired. */
  busy = 0;
  /** Set once the pool has dropped the entry: its session's `close()`. */
  closure: Promise<void> | undefined;
  constructor(
    /** The SHA-256 key of the pool key: the entry's key in the pool's map. */
    readonly id: string,
    readonly session: Session,
    public lastUsed: number,
    readonly pool: PoolInternals,
  ) {}

  get key(): string {
    return this.session.key;
  }

  get isLeader(): boolean {
    return this.session.isLeader;
  }

  get dpop(): SessionDPoP | undefined {
    return this.session.dpop;
  }

  async dpopProof(request: DPoPRequest): Promise<string> {
    const release = this.pool.hold(this);
    try {
      return await this.session.dpopProof(request);
    } finally {
      release();
    }
  }

  async getToken(options?: GetTokenOptions): Promise<Token> {
    const release = this.pool.hold(this);
    try {
      return await this.session.getToken(options);
    } finally {
      release();
    }
  }

  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void {
    return this.session.on(event, listener);
  }

  subscribe(listener: SnapshotListener): () => void {
    return this.session.subscribe(listener);
  }

  getSnapshot(): SessionSnapshot {
    return this.session.getSnapshot();
  }

  clear(): Promise<void> {
    return this.session.clear();
  }

  /** Removes the session from the pool and closes it (a closed session must not be handed out again). */
  close(): Promise<void> {
    return this.pool.remove(this);
  }

  [HOLD](): () => void {
    return this.pool.hold(this);
  }
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
  const { create, max = DEFAULT_POOL_MAX, idleTtl = DEFAULT_POOL_IDLE_TTL, clock = systemClock, onError } = options;
  if (typeof create !== 'function') throw new SessionError('invalid_options', 'createSessionPool needs create(key)');
  if (!Number.isInteger(max) || max < 1) throw new SessionError('invalid_options', 'max must be an integer ≥ 1');
  if (!(idleTtl > 0)) throw new SessionError('invalid_options', 'idleTtl must be a number of ms > 0 (or Infinity)');
  if (onError !== undefined && typeof onError !== 'function') throw new SessionError('invalid_options', 'onError must be a function');

  // Map order is the LRU order: a use (a lookup, the start and the end of a call) moves the entry to the end, so the
  // least recently used entries come first.
  const entries = new Map<string, Entry>();
  /** The last entry in `entries` (a use of it needs no move), when known. */
  let newest: Entry | undefined;
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

  const report = (error: unknown, why: string): void => {
    if (onError === undefined) return;
    const reported = isSessionError(error)
      ? error
      : new SessionError('sharing_unavailable', `A pooled session could not be closed (${why})`, { cause: error });
    try {
      onError(reported);
    } catch {
      // A throwing listener must not turn into an unhandled rejection either.
    }
  };

  /**
   * Drops the entry and closes its session, once. The returned promise rejects as `close()` did; `why` names the
   * pool's own reasons (eviction, expiry, closing the pool), whose failures nobody awaits: they go to `onError`.
   * Without `why` (delete, `close()` of the session), the caller gets the rejection.
   */
  const retire = (entry: Entry, why?: string): Promise<void> => {
    if (entry.closure !== undefined) return entry.closure;
    if (entries.get(entry.id) === entry) entries.delete(entry.id);
    if (newest === entry) newest = undefined;
    if (entries.size === 0) stopSweeper();
    let closure: Promise<void>;
    try {
      closure = Promise.resolve(entry.session.close());
    } catch (error) {
      closure = Promise.reject(error as Error);
    }
    entry.closure = closure;
    const done = closure.then(
      () => undefined,
      (error: unknown) => {
        if (why !== undefined) report(error, why);
      },
    );
    closing.add(done);
    void done.finally(() => closing.delete(done));
    return closure;
  };

  const isExpired = (entry: Entry, now: number): boolean => entry.busy === 0 && now - entry.lastUsed >= idleTtl;

  /** A use of an entry still in the pool: now its most recent one. */
  const touch = (entry: Entry, now = clock.now(), inPool = false): void => {
    entry.lastUsed = now;
    if (newest === entry) return; // already last
    if (!inPool && entries.get(entry.id) !== entry) return; // evicted or deleted meanwhile: not brought back
    entries.delete(entry.id);
    entries.set(entry.id, entry);
    newest = entry;
  };

  const sweep = (): void => {
    const now = clock.now();
    for (const entry of entries.values()) {
      if (isExpired(entry, now)) {
        void retire(entry, 'idle expiry');
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

  /**
   * Closes the least recently used idle sessions beyond `max`; never one in use, nor `keep` (the one a caller is
   * about to get). When every other session is in use, the pool stays above `max` until their calls settle.
   */
  const evictOverflow = (keep?: Entry): void => {
    if (entries.size <= max) return;
    for (const entry of entries.values()) {
      if (entries.size <= max) break;
      if (entry.busy > 0 || entry === keep) continue;
      void retire(entry, 'eviction');
      evictions++;
    }
  };

  /** Marks a use in progress (a use: `touch`, unless the caller just did); the returned function ends it. */
  const hold = (entry: Entry, touched = false): (() => void) => {
    entry.busy++;
    if (!touched) touch(entry);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      entry.busy--;
      touch(entry);
      evictOverflow();
    };
  };

  const internals: PoolInternals = {
    hold,
    remove: (entry) => retire(entry),
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
        touch(found, now, true);
        return found;
      }
      void retire(found, 'idle expiry');
      expirations++;
    }
    misses++;
    const entry = new Entry(id, create(key), now, internals);
    entries.set(id, entry);
    newest = entry;
    startSweeper();
    evictOverflow(entry);
    return entry;
  };

  return {
    get(key) {
      return acquire(key);
    },
    async getToken(key, getTokenOptions) {
      const entry = acquire(key);
      const release = hold(entry, true);
      try {
        return await entry.session.getToken(getTokenOptions);
      } finally {
        release();
      }
    },
    has(key) {
      const entry = typeof key === 'string' ? entries.get(hashKey(key)) : undefined;
      return entry !== undefined && !isExpired(entry, clock.now());
    },
    async delete(key) {
      const entry = typeof key === 'string' ? entries.get(hashKey(key)) : undefined;
      if (entry === undefined) return false;
      await retire(entry);
      return true;
    },
    get stats() {
      return { size: entries.size, hits, misses, evictions, expirations };
    },
    async close() {
      if (closed) return;
      closed = true;
      stopSweeper();
      for (const entry of [...entries.values()]) void retire(entry, 'pool close');
      await Promise.all(closing);
    },
  };
}
