import { SessionError } from '../../core/errors.js';
import type { Sharing } from '../sharing.js';
import type { DenoKv, KvKey } from './kv.js';
import { DenoKvLink, type Settings } from './link.js';
import { MAX_DURATION } from './records.js';

/** Options of {@link denoKvSharing}. */
export interface DenoKvSharingOptions {
  /** An open `Deno.Kv` (`await Deno.openKv()`). It stays yours: never closed here. */
  readonly kv: DenoKv;
  /** Key prefix of every record (strings and numbers). Default `['shared-session']`. */
  readonly prefix?: KvKey | undefined;
  /**
   * How long (ms) the lease of the isolate that fetches a token lasts without renewal. The holder renews it every
   * third of this while its provider's retry chain runs, so only a holder that died or hangs is replaced, this long
   * after the others last saw it renewed. Default 30 000.
   */
  readonly leaseTime?: number | undefined;
  /** Longest time (ms) `getToken` waits for another isolate's token request. Then: `timeout`. Default 60 000. */
  readonly timeout?: number | undefined;
  /**
   * How often (ms) KV is read again: the sign-out epoch and the token while the session is open, and the lease while
   * another isolate fetches. `kv.watch` tells an isolate at once where it is delivered (Deno Deploy); the CLI's
   * SQLite KV does not deliver other processes' writes to a watch, so there this bounds how late a sign-out or a new
   * token arrives. Default 1 000.
   */
  readonly pollInterval?: number | undefined;
}

const DEFAULTS = { prefix: ['shared-session'], leaseTime: 30_000, timeout: 60_000, pollInterval: 1_000 } as const;

/**
 * Shares one token per credential between every isolate and region of Deno Deploy (or several Deno processes on one
 * KV file) through Deno KV. Pass it as the `sharing` option of `createSession`.
 *
 * - A lease taken with an atomic check on the versionstamps read elects the one isolate that calls the token
 *   endpoint, where the client secret lives; KV never sees a secret, and keys hold a SHA-256 of the credential key.
 *   The holder renews the lease while its request runs; a holder that died is replaced once nobody saw it renewed
 *   for `leaseTime`, judged by each reader's own clock (no clock is compared across isolates).
 * - The token is stored with `expireIn` at its expiry, only under the lease it was fetched with and only in the
 *   sign-out epoch it was requested in: a late holder never overwrites a newer token, and a token requested before a
 *   sign-out is stored and handed out nowhere.
 * - `clear()` moves the epoch on and drops the token and the lease in one atomic write; every isolate reads the
 *   epoch with each token it adopts, and learns of it through `kv.watch` or within `pollInterval`.
 * - A failure that says when to come back (`retryAfter`) is stored for that long: every isolate fails fast with it.
 * - Grants that rotate refresh tokens keep the newest one in KV, and record a rotation as in flight *before* its
 *   request: a holder that dies mid-rotation ends the grant (every isolate signed out) rather than letting another
 *   isolate send a refresh token that may be spent.
 *
 * @example
 * // kv: an open Deno.Kv, from `await Deno.openKv()`
 * const session = createSession({ provider, sharing: denoKvSharing({ kv, prefix: ['my-app'] }) });
 */
export function denoKvSharing(options: DenoKvSharingOptions): Sharing {
  const kv = options?.kv;
  if (typeof kv?.getMany !== 'function' || typeof kv.atomic !== 'function') {
    throw new SessionError('invalid_options', 'denoKvSharing needs an open Deno.Kv as `kv` (await Deno.openKv())');
  }
  const prefix = options.prefix ?? DEFAULTS.prefix;
  if (!Array.isArray(prefix) || !prefix.every((part) => typeof part === 'string' || (typeof part === 'number' && Number.isFinite(part)))) {
    throw new SessionError('invalid_options', 'prefix must be an array of strings and numbers');
  }
  const settings: Settings = {
    kv,
    prefix: [...prefix],
    leaseTime: duration('leaseTime', options.leaseTime ?? DEFAULTS.leaseTime),
    timeout: duration('timeout', options.timeout ?? DEFAULTS.timeout),
    pollInterval: duration('pollInterval', options.pollInterval ?? DEFAULTS.pollInterval),
  };
  return { kind: 'deno-kv', acrossProcesses: true, connect: (peer) => new DenoKvLink(peer, settings) };
}

function duration(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_DURATION) {
    throw new SessionError('invalid_options', `${name} must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  return value;
}
