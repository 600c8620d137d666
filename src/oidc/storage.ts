import { promisifyRequest } from 'idb-keyval';
import * as z from 'zod/mini';
import { hashKey } from '../core/digest.js';
import { SessionError } from '../core/errors.js';
import { reopeningDatabase } from '../core/indexed-db.js';
import { boolean, type ByType, parseByType } from '../core/schemas.js';
import type { SignedInUser, UserClaims } from './user.js';

/**
 * The sign-in's own storage and channel format, apart from the token's (`shared-session-v2`): the transactions of
 * sign-ins under way, and who is signed in. Its version is in every name, as browser sharing's is.
 */
export const OIDC_FORMAT = 1;
const DATABASE = `shared-session-oidc-v${OIDC_FORMAT}`;
const TRANSACTIONS = 'transactions';
const USERS = 'users';
/** Past this, IndexedDB counts as unavailable: a sign-in must not hang on storage. */
const STORAGE_TIMEOUT = 3_000;
/**
 * How many times in all a read of who signed in is made when IndexedDB does not answer in time. On a busy machine
 * a page's first read can take longer than `STORAGE_TIMEOUT`, and "nobody" would show a signed-in user as signed out
 * in that tab for good; a database that does not open at all still fails at once.
 */
const USER_READ_ATTEMPTS = 3;
/** The errors of reads that timed out (the database may answer the next one), apart from those that failed. */
const timedOut = new WeakSet<SessionError>();
/** A sign-in that has not come back after this long is abandoned: its transaction is deleted unread. */
export const TRANSACTION_LIFETIME = 15 * 60_000;

const head = { v: z.literal(OIDC_FORMAT), key: z.string() };
const claimsSchema = z.looseObject({ sub: z.string(), name: z.optional(z.string()), email: z.optional(z.string()) });
const userSchema = z.object({ claims: claimsSchema, idToken: z.optional(z.string()) });

/** One sign-in under way: what the callback needs to finish it, readable once. */
const transactionSchema = z.object({
  ...head,
  // `z.refine` rather than zod's named checks, for the bundle's size: see core/schemas.ts.
  state: z.string().check(z.refine((value) => value.length >= 1)),
  codeVerifier: z.string().check(z.refine((value) => value.length >= 43)),
  nonce: z.optional(z.string()),
  redirectUri: z.string(),
  /** Same-origin path (with search and hash) to show after the callback. */
  returnTo: z.string(),
  /** Opened in a popup: the callback tells the opener (by `state`) and closes. */
  popup: boolean,
  createdAt: z.number(),
  /** The `max_age` sent (s): the ID token's `auth_time` is checked against it (OpenID Connect Core §3.1.3.7 (13)). */
  maxAge: z.optional(z.number()),
  /** What the app passed to `signIn` as `state`, given back by `ready` (structured-cloneable, e.g. JSON). */
  appState: z.optional(z.unknown()),
});
export type Transaction = z.infer<typeof transactionSchema>;

/**
 * Who is signed in for a credential: the ID token's claims (personal data, not a credential) and the ID token.
 * `updatedAt`: when a refresh last brought a new ID token for this sign-in (its token's `issuedAt`).
 */
const userRecordSchema = z.object({ ...head, user: userSchema, signedInAt: z.number(), updatedAt: z.optional(z.number()) });
export type UserRecord = z.infer<typeof userRecordSchema>;

/**
 * The sign-in's BroadcastChannel messages, by `type` (their key here, checked by `parseByType`): never a token, a code or a verifier. A schema per type picked by
 * `parseOidcMessage` (core/schemas.ts `parseByType`), as `z.discriminatedUnion` would, without its code (about 0.8 KB gzip).
 */
const messageSchemas = {
  /** Someone signed in (the token follows on the session's own channel). */
  'signed-in': z.object({ ...head, user: userSchema, signedInAt: z.number() }),
  /** A refresh brought a new ID token for the sign-in at `signedInAt` (same user, newer claims). */
  user: z.object({ ...head, user: userSchema, signedInAt: z.number(), updatedAt: z.number() }),
  /** The popup's callback finished: `code` names the error when it failed. */
  popup: z.object({ ...head, state: z.string(), code: z.optional(z.string()) }),
};
export type OidcMessage = ByType<typeof messageSchemas>;

export function parseOidcMessage(data: unknown, key: string): OidcMessage | undefined {
  const message = parseByType(messageSchemas, data);
  return message?.key === key ? message : undefined;
}

/** Tells every context of a refresh's new ID token (from whichever context refreshed: a worker has no handle). */
export function postUserUpdate(record: UserRecord & { updatedAt: number }): void {
  if (typeof BroadcastChannel !== 'function') return;
  const channel = new BroadcastChannel(oidcChannelName(record.key));
  // Delivered although closed at once: postMessage queues it for every other channel of that name.
  channel.postMessage({ ...record, type: 'user' });
  channel.close();
}

/** The channel of credential `key`'s sign-ins (SHA-256 of the key, as the session's channel). */
export function oidcChannelName(key: string): string {
  return `${DATABASE}:${hashKey(key)}`;
}

type Mode = 'readonly' | 'readwrite';
/** Our connection, closed on `versionchange` (so another page can delete the database) and reopened on next use. */
const open = reopeningDatabase(DATABASE, (db) => {
  db.createObjectStore(TRANSACTIONS);
  db.createObjectStore(USERS);
});

/** Runs `work` in one IndexedDB transaction on `storeName`, resolving when it commits; bounded in time. */
function withStore<T>(storeName: string, mode: Mode, work: (store: IDBObjectStore) => () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new SessionError('unsupported_context', 'IndexedDB did not answer in time');
      timedOut.add(error);
      reject(error);
    }, STORAGE_TIMEOUT);
    (async () => {
      const db = await open();
      const transaction = db.transaction(storeName, mode);
      const result = work(transaction.objectStore(storeName));
      await promisifyRequest(transaction);
      return result();
    })()
      .then(resolve, (error: unknown) =>
        reject(new SessionError('unsupported_context', 'IndexedDB is unavailable: the sign-in cannot be kept', { cause: error })),
      )
      .finally(() => clearTimeout(timer));
  });
}

/** Stores a new transaction, and deletes abandoned ones (older than `TRANSACTION_LIFETIME`). */
export function saveTransaction(transaction: Transaction): Promise<void> {
  return withStore(TRANSACTIONS, 'readwrite', (store) => {
    const cursor = store.openCursor();
    cursor.onsuccess = () => {
      const entry = cursor.result;
      if (entry === null) return;
      const createdAt = (entry.value as { createdAt?: unknown } | undefined)?.createdAt;
      if (!(typeof createdAt === 'number' && transaction.createdAt - createdAt < TRANSACTION_LIFETIME)) entry.delete();
      entry.continue();
    };
    store.put(transaction, transaction.state);
    return () => undefined;
  });
}

/**
 * What a callback's `state` is to the credential `key`: its transaction (taken: replaced by a spent mark in the
 * same IndexedDB transaction that reads it, so of two tabs opening one callback, or a reload, exactly one gets it),
 * `'spent'` (ours, taken before, expired or malformed), `'foreign'` (another credential's, live or spent: that
 * session's callback), or undefined (no transaction of this browser has that state).
 */
export async function takeTransaction(state: string, key: string, now: number): Promise<Transaction | 'spent' | 'foreign' | undefined> {
  const value = await withStore(TRANSACTIONS, 'readwrite', (store) => {
    const request = store.get(state);
    request.onsuccess = () => {
      const found = request.result as { key?: unknown; createdAt?: unknown } | undefined;
      // The mark keeps `createdAt`: `saveTransaction` sweeps it with the abandoned transactions.
      if (found?.key === key) store.put({ v: OIDC_FORMAT, key, state, spent: true, createdAt: found.createdAt }, state);
    };
    return () => request.result as unknown;
  });
  if (value === undefined) return undefined;
  const owner = (value as { key?: unknown } | null)?.key;
  if (owner !== key) return typeof owner === 'string' ? 'foreign' : undefined;
  const parsed = transactionSchema.safeParse(value);
  if (!parsed.success || parsed.data.state !== state) return 'spent';
  const age = now - parsed.data.createdAt;
  return age >= 0 && age < TRANSACTION_LIFETIME ? parsed.data : 'spent';
}

/** Deletes a transaction unread (a popup closed or blocked: its callback must not complete later). */
export function dropTransaction(state: string): Promise<void> {
  return withStore(TRANSACTIONS, 'readwrite', (store) => {
    store.delete(state);
    return () => undefined;
  });
}

/**
 * Who is signed in for credential `key`, if the record is there and valid. Bounded: at most `USER_READ_ATTEMPTS`
 * reads of `STORAGE_TIMEOUT` each, then the storage's error.
 */
export async function readUser(key: string): Promise<UserRecord | undefined> {
  let value: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      value = await withStore(USERS, 'readonly', (store) => {
        const request = store.get(hashKey(key));
        return () => request.result as unknown;
      });
      break;
    } catch (error) {
      if (!(error instanceof SessionError && timedOut.has(error)) || attempt >= USER_READ_ATTEMPTS) throw error;
    }
  }
  const parsed = userRecordSchema.safeParse(value);
  return parsed.success && parsed.data.key === key ? parsed.data : undefined;
}

/**
 * Whether a stored record gives way to the sign-in at `signedInAt`: an earlier sign-in, or one dated in the future —
 * no sign-in that happened (a clock since set back, or a record another page of the origin forged), which would
 * otherwise outrank every real sign-in and outlive every sign-out.
 */
function givesWay(stored: UserRecord, signedInAt: number): boolean {
  return stored.signedInAt <= signedInAt || stored.signedInAt > Date.now();
}

/** Keeps who signed in, unless the record holds a later sign-in. */
export function writeUser(key: string, user: SignedInUser, signedInAt: number): Promise<void> {
  const record: UserRecord = { v: OIDC_FORMAT, key, user: userOf(user), signedInAt };
  return withStore(USERS, 'readwrite', (store) => {
    const request = store.get(hashKey(key));
    request.onsuccess = () => {
      const stored = userRecordSchema.safeParse(request.result);
      if (!stored.success || givesWay(stored.data, signedInAt)) store.put(record, hashKey(key));
    };
    return () => undefined;
  });
}

/**
 * Keeps the newer ID token of the sign-in at `signedInAt` (a refresh brought it), unless the record is of another
 * sign-in or already holds a later update. Resolves whether it was kept.
 */
export async function updateUser(key: string, user: SignedInUser, signedInAt: number, updatedAt: number): Promise<boolean> {
  const record: UserRecord = { v: OIDC_FORMAT, key, user: userOf(user), signedInAt, updatedAt };
  return withStore(USERS, 'readwrite', (store) => {
    const request = store.get(hashKey(key));
    let kept = false;
    request.onsuccess = () => {
      const stored = userRecordSchema.safeParse(request.result);
      if (stored.success && stored.data.key === key && stored.data.signedInAt === signedInAt && (stored.data.updatedAt ?? signedInAt) < updatedAt) {
        store.put(record, hashKey(key));
        kept = true;
      }
    };
    return () => kept;
  });
}

/** Deletes who signed in, when that sign-in is the one at `signedInAt` or earlier (never a later sign-in's record). */
export function deleteUser(key: string, signedInAt: number): Promise<void> {
  return withStore(USERS, 'readwrite', (store) => {
    const request = store.get(hashKey(key));
    request.onsuccess = () => {
      const stored = userRecordSchema.safeParse(request.result);
      if (!stored.success || givesWay(stored.data, signedInAt)) store.delete(hashKey(key));
    };
    return () => undefined;
  });
}

/** Only what the schema knows: a `SignedInUser` from elsewhere may carry more. */
function userOf(user: SignedInUser): UserRecord['user'] {
  return user.idToken === undefined ? { claims: user.claims } : { claims: user.claims, idToken: user.idToken };
}

export type { UserClaims };
