import { del, get, update, type UseStore } from 'idb-keyval';
import { reopeningDatabase } from '../../core/indexed-db.js';
import { hashKey } from '../../core/digest.js';
import { SessionError } from '../../core/errors.js';
import { isNewer, type Token } from '../../core/token.js';
import { DATABASE, FORMAT, recordSchema, type StoredRecord } from './messages.js';

/** Past this, IndexedDB counts as unavailable: a token request must not hang on storage. */
const STORAGE_TIMEOUT = 3_000;

/**
 * One credential's record in IndexedDB. Every method rejects when IndexedDB is unavailable, failing or too slow:
 * with a `sharing_degraded` SessionError when the database cannot be opened at all (then it never will be), with
 * the browser's error when one operation failed (a full disk: the next one may work).
 */
export interface RecordStore {
  /**
   * The stored record, validated; `corrupt` when something else was stored there (it has been deleted); `repaired`
   * when its token was issued in our future (the clock went back, or it was forged): stored again with that token
   * expired, and the refresh token beside it kept.
   */
  read(): Promise<(StoredRecord & { readonly repaired?: true }) | 'corrupt' | undefined>;
  /**
   * Stores `token` (and `refreshToken`) in one transaction, unless the stored token is newer, or the record holds
   * a sign-out later than `clearedAt` (the latest one the writer knew when it asked for the token) or later than
   * the token's `issuedAt`. Resolves with the sign-out time the record holds (0 for none).
   */
  write(token: Token, refreshToken: string | undefined, clearedAt: number): Promise<number>;
  /** Records a sign-out at `at`: a token issued before it is deleted, and can never be written back. */
  signOut(at: number): Promise<void>;
  /**
   * Sets `rotating` to `lock` (a refresh is about to be sent under it), or, with `done`, removes it if it is still
   * `lock` (the refresh failed without spending the refresh token). A write of a token removes it too. Resolves
   * `false`, changing nothing, when another context's marker is there: it is rotating that refresh token.
   */
  rotating(lock: string, done?: boolean): Promise<boolean>;
}

// Opened on first use, shared by every credential of this context.
let database: UseStore | undefined;

/**
 * The record of credential `key`: stored under its SHA-256 (`hashKey`), in the database `shared-session-v2`, store
 * `tokens`. `now` is the session's clock: a record from its future was not written by this browser's contexts.
 */
export function recordStore(key: string, now: () => number): RecordStore {
  const id = hashKey(key);
  const parse = (value: unknown): StoredRecord | undefined => {
    const parsed = recordSchema.safeParse(value);
    if (!parsed.success || parsed.data.key !== key) return undefined;
    const { clearedAt = 0, token } = parsed.data;
    const time = now();
    if (clearedAt > time) return undefined;
    // A token from our future is never handed out (expired as of now), but the refresh token stored with it is the
    // newest there is: deleting it would lose the rotation, and the next context would send a spent one.
    return token === undefined || token.issuedAt <= time ? parsed.data : { ...parsed.data, token: { ...token, issuedAt: time, expiresAt: time } };
  };
  const fromTheFuture = (value: unknown): boolean => {
    const parsed = recordSchema.safeParse(value);
    return parsed.success && parsed.data.token !== undefined && parsed.data.token.issuedAt > now();
  };
  const record = (clearedAt: number, token?: Token, refreshToken?: string): StoredRecord => ({
    v: FORMAT,
    key,
    ...(clearedAt > 0 && { clearedAt }),
    ...(token && { token }),
    ...(token && refreshToken !== undefined && { refreshToken }),
  });
  return {
    async read() {
      const value = await withDatabase((store) => get(id, store));
      if (value === undefined) return undefined;
      const stored = parse(value);
      if (stored !== undefined && fromTheFuture(value)) {
        // In one transaction: a token written meanwhile is not overwritten.
        await withDatabase((store) => update(id, (current) => (fromTheFuture(current) ? parse(current) : current), store));
        return { ...stored, repaired: true };
      }
      if (stored !== undefined) return stored;
      await withDatabase((store) => del(id, store));
      return 'corrupt';
    },
    async write(token, refreshToken, known) {
      let signedOut = 0;
      await withDatabase((store) =>
        update(id, (value) => {
          const stored = parse(value);
          signedOut = stored?.clearedAt ?? 0;
          const older = stored?.token !== undefined && !fromTheFuture(value) && !isNewer(token, stored.token);
          const refused = signedOut > known || token.issuedAt < signedOut || older;
          return refused ? stored : record(signedOut, token, refreshToken);
        }, store),
      );
      return signedOut;
    },
    signOut(at) {
      return withDatabase((store) =>
        update(id, (value) => {
          const stored = parse(value);
          const clearedAt = Math.max(stored?.clearedAt ?? 0, at);
          // A token issued after the sign-out stays, with its refresh token and the rotation under way, if any.
          return stored?.token !== undefined && stored.token.issuedAt >= clearedAt ? { ...stored, clearedAt } : record(clearedAt);
        }, store),
      );
    },
    async rotating(lock, done) {
      let taken = true;
      await withDatabase((store) =>
        update(id, (value) => {
          const { rotating, ...stored } = parse(value) ?? record(0);
          const other = rotating !== lock && rotating !== undefined;
          taken = done === true || !other;
          return done || other ? { ...stored, ...(other && { rotating }) } : { ...stored, rotating: lock };
        }, store),
      );
      return taken;
    },
  };
}

/**
 * Our own connection (`reopeningDatabase`), instead of idb-keyval's `createStore`: it closes on `versionchange`, so
 * that another page can delete or upgrade the database, and reopens on the next use; also after the browser closed it.
 */
function openDatabase(): UseStore {
  const connect = reopeningDatabase(DATABASE, (db) => db.createObjectStore('tokens'));
  return (mode, callback) => connect().then((db) => callback(db.transaction('tokens', mode).objectStore('tokens')));
}

function withDatabase<T>(operation: (store: UseStore) => Promise<T>): Promise<T> {
  let opened = false;
  const store: UseStore = (mode, callback) =>
    (database ??= openDatabase())(mode, (objectStore) => {
      opened = true;
      return callback(objectStore);
    });
  const unavailable = (cause?: unknown): SessionError =>
    new SessionError('sharing_degraded', 'No IndexedDB: the token is shared by channel only', { cause });
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(opened ? new Error('IndexedDB did not answer in time') : unavailable()), STORAGE_TIMEOUT);
    // Inside an async function, a synchronous throw (no `indexedDB`, a SecurityError from `open`) becomes a rejection.
    (async () => operation(store))()
      .then(resolve, (error: unknown) => reject(opened ? error : unavailable(error)))
      .finally(() => clearTimeout(timer));
  });
}
