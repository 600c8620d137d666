import { createStore, del, get, update, type UseStore } from 'idb-keyval';
import { fingerprint } from '../../core/fingerprint.js';
import { isNewer } from '../../core/token.js';
import { DATABASE, recordSchema, type StoredRecord } from './messages.js';

/** Past this, IndexedDB counts as unavailable: a token request must not hang on storage. */
const STORAGE_TIMEOUT = 3_000;

/** One credential's record in IndexedDB. Every method rejects when IndexedDB is unavailable, failing or too slow. */
export interface RecordStore {
  /** The stored record, validated; `corrupt` when something else was stored there (it has been deleted). */
  read(): Promise<StoredRecord | 'corrupt' | undefined>;
  /** Stores `record` unless the stored one is newer (one transaction, so concurrent writers cannot go back in time). */
  write(record: StoredRecord): Promise<void>;
  remove(): Promise<void>;
}

// Opened on first use (idb-keyval opens lazily), shared by every credential of this context.
let database: UseStore | undefined;

/** The record of credential `key`: stored under its fingerprint, in the database `shared-session-v1`, store `tokens`. */
export function recordStore(key: string): RecordStore {
  const id = fingerprint(key);
  const parse = (value: unknown): StoredRecord | undefined => {
    const parsed = recordSchema.safeParse(value);
    return parsed.success && parsed.data.key === key ? parsed.data : undefined;
  };
  return {
    async read() {
      const value = await withDatabase((store) => get(id, store));
      if (value === undefined) return undefined;
      const record = parse(value);
      if (record !== undefined) return record;
      await withDatabase((store) => del(id, store));
      return 'corrupt';
    },
    write(record) {
      return withDatabase((store) =>
        update(id, (stored) => {
          const current = parse(stored);
          return current !== undefined && !isNewer(record.token, current.token) ? current : record;
        }, store),
      );
    },
    remove() {
      return withDatabase((store) => del(id, store));
    },
  };
}

function withDatabase<T>(operation: (store: UseStore) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('IndexedDB did not answer in time')), STORAGE_TIMEOUT);
    // Inside an async function, a synchronous throw (no `indexedDB`, a SecurityError from `open`) becomes a rejection.
    (async () => operation((database ??= createStore(DATABASE, 'tokens'))))()
      .then(resolve, reject)
      .finally(() => clearTimeout(timer));
  });
}
