import { isSessionError, SessionError } from '../../core/errors.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing.js';
import { boundedByClock, type Token, type TokenSet } from '../../core/token.js';
import {
  type ChannelListener,
  type IORedisClient,
  type IORedisSubscriber,
  type NodeRedisSubscriber,
  type RedisClient,
  type RedisPort,
  redisPort,
  type RedisSubscriber,
} from './client.js';
import {
  ACQUIRE_SCRIPT,
  CLEAR_SCRIPT,
  COMMIT_SCRIPT,
  decodeEpoch,
  decodeFailure,
  decodeMessage,
  decodeRecord,
  DELETE_IF_SCRIPT,
  encodeFailure,
  encodeMessage,
  encodeRecord,
  type FailureCode,
  isFailureCode,
  type Keys,
  keysFor,
  READ_SCRIPT,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
  tokenFromRecord,
} from './protocol.js';

/** Options of {@link redisSharing}. */
export interface RedisSharingOptions<Client extends RedisClient = RedisClient> {
  /** A connected client of `redis` (node-redis v4–v6) or `ioredis` (v5, v6). It stays yours: never closed here. */
  readonly client: Client;
  /**
   * The connection for Pub/Sub. Default: `client.duplicate()`, connected on first use and closed when the last
   * session using it closes. A subscriber you pass stays yours, and may serve any number of `redisSharing`.
   */
  readonly subscriber?: (Client extends IORedisClient ? IORedisSubscriber : NodeRedisSubscriber) | undefined;
  /** Prefix of every key and channel. Default `'shared-session:'`. */
  readonly prefix?: string | undefined;
  /**
   * How long (ms) the lock of the process that fetches a token lasts without renewal. The holder renews it every
   * third of this while its token request runs, so only a holder that died or hangs (paused, blocked) is replaced,
   * this long after its last renewal. Default 30 000.
   */
  readonly leaseTime?: number | undefined;
  /** Longest time (ms) `getToken` waits for another process's token request. Then: `timeout`. Default 60 000. */
  readonly timeout?: number | undefined;
  /** Longest time (ms) one Redis command may take; past it Redis counts as unavailable. Default 2 000. */
  readonly commandTimeout?: number | undefined;
  /**
   * While another process fetches, Redis is read again this often (ms), in case its Pub/Sub message was lost.
   * Default 500.
   */
  readonly pollInterval?: number | undefined;
  /**
   * When Redis cannot be reached or does not answer in `commandTimeout`: `'local'` fetches in this process (one
   * request per process, reported as `sharing_degraded`); `'error'` fails `getToken` with `sharing_unavailable`.
   * Default `'local'`.
   */
  readonly onUnavailable?: 'local' | 'error' | undefined;
}

const DEFAULTS = {
  prefix: 'shared-session:',
  leaseTime: 30_000,
  timeout: 60_000,
  commandTimeout: 2_000,
  pollInterval: 500,
  onUnavailable: 'local',
} as const;
/** setTimeout overflows past this. */
const MAX_DURATION = 2_147_483_647;
/** Failures published for leases, kept for a waiter that learns whom it waits for after the message came. */
const RECENT_FAILURES = 16;

interface Settings {
  readonly port: RedisPort;
  readonly prefix: string;
  readonly leaseTime: number;
  readonly timeout: number;
  readonly pollInterval: number;
  readonly onUnavailable: 'local' | 'error';
}

/** A caller of `obtain` waiting for the token request of lock holder `holder` (its fencing id). */
interface Waiter {
  readonly rejected: string | undefined;
  readonly holder: string;
  settle(outcome: Token | Error | undefined): void;
}

/** What one read of Redis found: the stored token (in this clock) if it is current, and a remembered failure. */
interface Found {
  readonly token: Token | undefined;
  readonly failure: SessionError | undefined;
}

type Attempt =
  | {
      readonly kind: 'acquired';
      readonly token: Token | undefined;
      readonly epoch: number;
      /** Redis's clock when the lock was taken, and this clock when the answer came: commits say when they are sent. */
      readonly redisTime: number;
      readonly receivedAt: number;
    }
  | { readonly kind: 'held'; readonly holder: string }
  | { readonly kind: 'failed'; readonly failure: SessionError | undefined }
  | { readonly kind: 'stale' };

/**
 * Shares one token per credential between the processes of a server fleet through Redis. Pass it as the `sharing`
 * option of `createSession`.
 *
 * - A Redis lock (`SET NX PX` with a random fencing id) elects the one process that calls the token endpoint; the
 *   request runs in that process, where the client secret lives. Redis never sees a secret. The holder renews the
 *   lock while it works, so a live holder is never replaced; a dead one is, after `leaseTime`.
 * - The token is stored with a TTL that ends at its expiry, and every process reads its remaining life from that
 *   TTL: machines whose clocks disagree still agree on when the token expires. A message tells the others to read it;
 *   processes waiting for it also read Redis again every `pollInterval`, in case a message is lost.
 * - `clear()` increments a sign-out epoch stored beside the token and deletes the token in the same script; a token
 *   fetched under an older epoch is never stored or handed out, and a process that missed the message (its Pub/Sub
 *   connection was down) finds the new epoch when it reads Redis or resubscribes.
 * - A failure that says when to come back (`retryAfter`) is stored for that long: every process fails fast with it.
 *
 * Grants that rotate refresh tokens (`refreshTokenGrant`) are refused with `invalid_options`: Redis does not store
 * refresh tokens, and processes with their own copies would spend each other's. Use one process per refresh token.
 *
 * @example
 * import { createClient } from 'redis';
 * const client = await createClient({ url: 'redis://redis.internal:6379' }).connect();
 * const session = createSession({ provider, sharing: redisSharing({ client }) });
 */
export function redisSharing<Client extends RedisClient>(options: RedisSharingOptions<Client>): Sharing {
  const commandTimeout = duration('commandTimeout', options.commandTimeout ?? DEFAULTS.commandTimeout);
  const prefix = options.prefix ?? DEFAULTS.prefix;
  if (typeof prefix !== 'string') throw new SessionError('invalid_options', 'prefix must be a string');
  const onUnavailable = options.onUnavailable ?? DEFAULTS.onUnavailable;
  if (onUnavailable !== 'local' && onUnavailable !== 'error') {
    throw new SessionError('invalid_options', "onUnavailable must be 'local' or 'error'");
  }
  const settings: Settings = {
    port: redisPort(options.client, options.subscriber as RedisSubscriber | undefined, commandTimeout),
    prefix,
    leaseTime: duration('leaseTime', options.leaseTime ?? DEFAULTS.leaseTime),
    timeout: duration('timeout', options.timeout ?? DEFAULTS.timeout),
    pollInterval: duration('pollInterval', options.pollInterval ?? DEFAULTS.pollInterval),
    onUnavailable,
  };
  return { kind: 'redis', connect: (peer) => new RedisLink(peer, settings) };
}

// A class, not a literal with closures: a server pool may hold many links. It is its own channel listener.
class RedisLink implements SharedLink, ChannelListener {
  /**
   * Every process refreshes ahead of expiry: their timers fire at about the same time, the lock lets one of them
   * fetch, and the others take its token from Redis. So no caller waits for a token request, on any machine.
   */
  readonly leading = true;
  readonly #peer: SharingPeer;
  readonly #settings: Settings;
  readonly #keys: Keys;
  /** This link's id in messages, and the stem of its fencing ids. */
  readonly #id = randomId();
  readonly #waiters = new Set<Waiter>();
  /** The sign-out epoch as last seen in Redis or a `clear` message; undefined before the first read. */
  #epoch: number | undefined;
  /** Bumped whenever `#epoch` changes: a read sent before that is stale. */
  #epochChanges = 0;
  /** Bumped by every sign-out: a coordination that started before one stops. */
  #generation = 0;
  #closed = false;
  #subscribed = false;
  /** The subscription failed since it was last made: messages may have been missed, so read Redis when it works. */
  #missed = false;
  /** `failed` messages by the fencing id they answer, newest last (made on the first). */
  #failures: Map<string, SessionError> | undefined;
  /** Sign-outs of this process in flight: a higher epoch read meanwhile is probably ours, and we sign out anyway. */
  #clearing = 0;
  #syncing = false;
  #syncAgain = false;

  constructor(peer: SharingPeer, settings: Settings) {
    if (peer.usesRefreshToken) {
      throw new SessionError(
        'invalid_options',
        'redisSharing does not share rotating refresh tokens (they are never stored in Redis): use one process per refresh token',
      );
    }
    this.#peer = peer;
    this.#settings = settings;
    this.#keys = keysFor(settings.prefix, peer.key);
    this.#subscribe();
  }

  /** Not fatal when it fails: waiting processes poll Redis; the next `obtain` subscribes again. */
  #subscribe(): void {
    this.#subscribed = true;
    this.#settings.port.subscribe(this.#keys.channel, this).then(
      () => {
        if (!this.#missed || this.#closed) return;
        this.#missed = false;
        this.resubscribed();
      },
      (error: unknown) => {
        if (this.#closed) return;
        this.#subscribed = false;
        this.#missed = true;
        this.#degraded('Redis Pub/Sub is unavailable: processes poll for tokens instead', error);
      },
    );
  }

  // Reading Redis is a round trip: `obtain` makes it, and returns the stored token when it is usable.
  load(): Promise<TokenSet | undefined> {
    return Promise.resolve(undefined);
  }

  async obtain(rejected?: string): Promise<TokenSet> {
    this.#assertOpen();
    if (!this.#subscribed) this.#subscribe();
    try {
      return { token: await this.#coordinate(rejected) };
    } catch (error) {
      if (!isSessionError(error, 'sharing_unavailable') || this.#settings.onUnavailable === 'error') throw error;
      this.#degraded('Redis is unavailable: this process fetched its own token', error);
      return this.#peer.fetchToken();
    }
  }

  async clear(): Promise<void> {
    this.#forget();
    const { epoch, token, lock, channel } = this.#keys;
    this.#clearing++;
    try {
      const reply = await this.#command(['EVAL', CLEAR_SCRIPT, '3', epoch, token, lock, String(this.#epoch ?? 0), channel, this.#id]);
      const cleared = decodeEpoch(reply);
      if (this.#epoch === undefined || cleared > this.#epoch) this.#setEpoch(cleared);
    } catch (error) {
      // Signed out here; the others keep their token until it expires. Say so, do not fail the sign-out.
      if (this.#settings.onUnavailable === 'error') throw error;
      this.#degraded('Redis is unavailable: the sign-out did not reach other processes', error);
    } finally {
      this.#clearing--;
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#settleAll(new SessionError('closed', 'The session was closed'));
    this.#settings.port.unsubscribe(this.#keys.channel, this);
    return Promise.resolve();
  }

  // ChannelListener

  message(data: string): void {
    const message = decodeMessage(data);
    if (message === undefined) {
      this.#peer.report(new SessionError('invalid_message', 'Ignored a malformed message on the Redis channel'));
      return;
    }
    if (message.from === this.#id || this.#closed) return;
    switch (message.type) {
      case 'token':
        // Read it from Redis: the stored token, its remaining life in this clock, and whether it is still current.
        this.#sync();
        return;
      case 'failed': {
        const failure = failureError(message.code, message.retryAfter);
        const failures = (this.#failures ??= new Map());
        failures.set(message.lease, failure);
        if (failures.size > RECENT_FAILURES) failures.delete(failures.keys().next().value!);
        for (const waiter of this.#waiters) if (waiter.holder === message.lease) waiter.settle(failure);
        return;
      }
      case 'clear':
        if (this.#epoch !== undefined && message.epoch <= this.#epoch) return; // known already
        this.#signedOutElsewhere(message.epoch);
        return;
    }
  }

  /** Messages published while the Pub/Sub connection was away are lost: read what they said from Redis. */
  resubscribed(): void {
    this.#sync();
  }

  /** A usable token: the stored one, or one this process fetches under the lock, or the lock holder's. */
  async #coordinate(rejected: string | undefined): Promise<Token> {
    const { timeout, pollInterval } = this.#settings;
    const generation = this.#generation;
    const deadline = this.#peer.clock.now() + timeout;
    for (;;) {
      const { token, failure } = await this.#read();
      this.#assertCurrent(generation);
      if (token !== undefined && this.#peer.isUsable(token, rejected)) return token;
      if (failure !== undefined) throw failure;
      const fence = `${this.#id}.${randomId()}`;
      const attempt = await this.#acquire(fence, generation);
      if (attempt.kind === 'failed') {
        if (attempt.failure !== undefined) throw attempt.failure;
        continue; // it was unreadable, and is deleted
      }
      if (attempt.kind === 'stale') continue;
      if (attempt.kind === 'acquired') {
        // The token as it was when the lock became ours: the previous holder may have stored one since our read.
        if (attempt.token !== undefined && this.#peer.isUsable(attempt.token, rejected)) {
          await this.#release(fence).catch(() => undefined);
          return attempt.token;
        }
        return this.#fetchUnderLock(fence, attempt);
      }
      const left = deadline - this.#peer.clock.now();
      if (left <= 0) throw new SessionError('timeout', 'Timed out waiting for another process to fetch the token');
      const outcome = await this.#wait(rejected, attempt.holder, Math.min(pollInterval, left));
      if (outcome instanceof Error) throw outcome;
      if (outcome !== undefined) return outcome;
      this.#assertCurrent(generation);
    }
  }

  /** Takes the lock, unless another process holds it or a remembered failure says to wait. */
  async #acquire(fence: string, generation: number): Promise<Attempt> {
    const { lock, token, epoch, failure } = this.#keys;
    const since = this.#epochChanges;
    const sentAt = this.#peer.clock.now();
    let reply: unknown;
    try {
      reply = await this.#command(['EVAL', ACQUIRE_SCRIPT, '4', lock, token, epoch, failure, fence, String(this.#settings.leaseTime)]);
    } catch (error) {
      // The script may still run once Redis answers again (clients queue commands while reconnecting). A release
      // queued behind it on the same connection frees the lock then, instead of blocking everyone for a lease.
      this.#release(fence).catch(() => undefined);
      throw error;
    }
    const receivedAt = this.#peer.clock.now();
    const [kind, value, ttl, stored, redisTime] = parts(reply, 5);
    const current = this.#observeEpoch(stored, since);
    switch (Number(kind)) {
      case 2:
        if (!current || generation !== this.#generation || this.#closed) {
          await this.#release(fence).catch(() => undefined);
          this.#assertCurrent(generation);
          return { kind: 'stale' };
        }
        return {
          kind: 'acquired',
          token: await this.#storedToken(value, ttl, sentAt),
          epoch: decodeEpoch(stored),
          redisTime: Number(redisTime),
          receivedAt,
        };
      case 1:
        return { kind: 'held', holder: String(value) };
      default:
        return { kind: 'failed', failure: await this.#storedFailure(value, ttl) };
    }
  }

  /** This process holds the lock: fetch here (where the secret is), then store and publish under the same lock. */
  async #fetchUnderLock(fence: string, acquired: Extract<Attempt, { kind: 'acquired' }>): Promise<Token> {
    const { epoch } = acquired;
    const stopRenewing = this.#renewWhileWorking(fence);
    let set: TokenSet;
    try {
      set = await this.#peer.fetchToken();
    } catch (error) {
      stopRenewing();
      // Best effort: if this is lost, the waiting processes take over when the lease expires.
      await this.#releaseFailed(fence, error).catch(() => undefined);
      throw error;
    }
    stopRenewing();
    const { token } = set;
    const now = this.#peer.clock.now();
    const ttl = Math.floor(token.expiresAt - now);
    // When this commit is sent, in Redis's clock (never later than the truth: the acquisition ran before its answer
    // came), so that Redis can tell how late it runs it.
    const sentInRedisClock = acquired.redisTime > 0 ? String(Math.floor(acquired.redisTime + (now - acquired.receivedAt))) : '';
    if (ttl <= 0) {
      // Expired on arrival (the core refuses it too): a failure for whoever waits, never a token to store.
      const expired = new SessionError('invalid_response', 'The token endpoint sent a token that had expired when it arrived');
      await this.#releaseFailed(fence, expired).catch(() => undefined);
      throw expired;
    }
    const { lock, channel } = this.#keys;
    const message = encodeMessage(this.#id, { type: 'token', lease: fence });
    const since = this.#epochChanges;
    let reply: unknown;
    try {
      // [0]: another process holds the lock now, or a longer-lived token was stored after our lease expired. Its
      // token wins in Redis; ours is still valid for the callers in this process.
      reply = await this.#command([
        'EVAL', COMMIT_SCRIPT, '3', lock, this.#keys.token, this.#keys.epoch,
        fence, encodeRecord(token), String(ttl), String(epoch), channel, message, sentInRedisClock,
      ]);
    } catch (error) {
      // This process has its token; the others get theirs after the lease expires. Say so, do not fail.
      this.#degraded('The token could not be stored in Redis', error);
      return token;
    }
    const [status, stored] = parts(reply, 2);
    if (Number(status) === -1) {
      // Signed out (by another process) while the request ran: its token is dead here too.
      this.#observeEpoch(stored, since);
      throw new SessionError('aborted', 'The session was cleared while its token was requested');
    }
    return token;
  }

  /** Extends the lock every third of `leaseTime` while the token request runs; stops once it is no longer ours. */
  #renewWhileWorking(fence: string): () => void {
    const { leaseTime } = this.#settings;
    const timer = setInterval(() => {
      this.#command(['EVAL', RENEW_SCRIPT, '1', this.#keys.lock, fence, String(leaseTime)]).then(
        (renewed) => Number(renewed) === 1 || clearInterval(timer),
        () => undefined, // Redis unavailable: try again next time; the lease may lapse meanwhile
      );
    }, Math.max(1, Math.floor(leaseTime / 3)));
    // Never keeps a process alive on its own: the token request does while it runs.
    (timer as { unref?: () => void }).unref?.();
    return () => clearInterval(timer);
  }

  /** The token request failed: tell whoever waits for this lease, and remember a failure that says when to retry. */
  #releaseFailed(fence: string, error: unknown): Promise<unknown> {
    const code = isSessionError(error) ? error.code : 'request_failed';
    if (!isFailureCode(code)) return this.#release(fence);
    const retryAfter = isSessionError(error) ? error.retryAfter : undefined;
    const wait = retryAfter !== undefined && retryAfter > 0 ? Math.min(MAX_DURATION, Math.ceil(retryAfter)) : undefined;
    const message = encodeMessage(this.#id, { type: 'failed', lease: fence, code, ...(wait === undefined ? {} : { retryAfter: wait }) });
    return wait === undefined ? this.#release(fence, message) : this.#release(fence, message, encodeFailure(code, fence), wait);
  }

  #release(fence: string, message = '', failure = '', failureTtl = 0): Promise<unknown> {
    const { lock, channel } = this.#keys;
    return this.#command(['EVAL', RELEASE_SCRIPT, '2', lock, this.#keys.failure, fence, channel, message, failure, String(failureTtl)]);
  }

  /** One round trip: the token (if it is of the current epoch), the epoch (a missed sign-out is applied), a failure. */
  async #read(): Promise<Found> {
    const { token, epoch, failure } = this.#keys;
    const since = this.#epochChanges;
    const sentAt = this.#peer.clock.now();
    const reply = await this.#command(['EVAL', READ_SCRIPT, '3', token, epoch, failure]);
    const [record, ttl, stored, failed, failedTtl] = parts(reply, 5);
    const current = this.#observeEpoch(stored, since);
    return {
      token: current ? await this.#storedToken(record, ttl, sentAt) : undefined,
      failure: await this.#storedFailure(failed, failedTtl),
    };
  }

  /** A stored record as a token of this clock: it expires `ttl` after the read was sent. */
  async #storedToken(value: unknown, ttl: unknown, sentAt: number): Promise<Token | undefined> {
    const stored = decodeRecord(value);
    if (stored === undefined) return undefined;
    const left = Number(ttl);
    // -1: no TTL, so not written by this format (every record expires with its token).
    if (stored === 'corrupt' || left === -1) {
      this.#peer.report(new SessionError('corrupt_storage', 'Deleted an unreadable token record in Redis'));
      await this.#deleteIf(this.#keys.token, value);
      return undefined;
    }
    if (!(left > 0)) return undefined;
    return boundedByClock(tokenFromRecord(stored, left, sentAt), this.#peer.clock.now());
  }

  /** A remembered failure, with what is left of its `retryAfter`. */
  async #storedFailure(value: unknown, ttl: unknown): Promise<SessionError | undefined> {
    const stored = decodeFailure(value);
    if (stored === undefined) return undefined;
    const left = Number(ttl);
    if (stored === 'corrupt' || left === -1) {
      this.#peer.report(new SessionError('corrupt_storage', 'Deleted an unreadable failure record in Redis'));
      await this.#deleteIf(this.#keys.failure, value);
      return undefined;
    }
    return left > 0 ? failureError(stored.code, left) : undefined;
  }

  /** Only if it is still the value read: one written meanwhile stays. */
  async #deleteIf(key: string, value: unknown): Promise<void> {
    await this.#command(['EVAL', DELETE_IF_SCRIPT, '1', key, String(value)]);
  }

  /**
   * Compares the epoch read from Redis (by a read sent when `#epochChanges` was `since`) with the one this link
   * knows, and returns whether what that read found is current. A higher epoch is a sign-out this process missed
   * (its Pub/Sub connection was away). A lower one is either a read that crossed a newer sign-out (stale: ignored)
   * or Redis having lost its data (a restart without persistence, a flush, a failover to a replica behind), and with
   * it perhaps a sign-out: both changes sign this process out, so that nothing issued before a sign-out survives.
   */
  #observeEpoch(value: unknown, since: number): boolean {
    const stored = decodeEpoch(value);
    if (this.#epoch === undefined) {
      this.#setEpoch(stored);
      return true;
    }
    if (stored === this.#epoch) return true;
    if (stored < this.#epoch && since !== this.#epochChanges) return false;
    if (stored > this.#epoch && this.#clearing > 0) {
      // Most likely this process's own sign-out, read before its script answered: signed out here already.
      this.#setEpoch(stored);
      this.#forget();
      return true;
    }
    this.#signedOutElsewhere(stored);
    return true;
  }

  #setEpoch(epoch: number): void {
    this.#epoch = epoch;
    this.#epochChanges++;
  }

  #signedOutElsewhere(epoch: number): void {
    this.#setEpoch(epoch);
    this.#forget();
    this.#peer.receiveClear();
  }

  /** Reads Redis after a message or a resubscription; one read at a time, and one more if asked meanwhile. */
  #sync(): void {
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = true;
    const run = async (): Promise<void> => {
      do {
        this.#syncAgain = false;
        const { token } = await this.#read();
        if (this.#closed || token === undefined) continue;
        this.#peer.receiveToken(token);
        for (const waiter of this.#waiters) if (this.#peer.isUsable(token, waiter.rejected)) waiter.settle(token);
      } while (this.#syncAgain && !this.#closed);
    };
    run()
      .catch(() => undefined) // Redis unavailable: waiting callers poll; the next obtain reads again
      .finally(() => (this.#syncing = false));
  }

  #command(args: readonly string[]): Promise<unknown> {
    return this.#settings.port.command(args);
  }

  /** Resolves with a usable token published meanwhile, an error to fail with, or undefined after `ms`. */
  #wait(rejected: string | undefined, holder: string, ms: number): Promise<Token | Error | undefined> {
    const failed = this.#failures?.get(holder); // published before we knew whom we wait for
    if (failed !== undefined) return Promise.resolve(failed);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        rejected,
        holder,
        settle: (outcome) => {
          if (!this.#waiters.delete(waiter)) return;
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      const timer = setTimeout(() => waiter.settle(undefined), ms);
      this.#waiters.add(waiter);
    });
  }

  /** Sign-out, here or elsewhere: stop waiting for a token, and stop coordinations that started before it. */
  #forget(): void {
    this.#generation++;
    this.#settleAll(new SessionError('aborted', 'The session was cleared'));
  }

  #settleAll(outcome: Error): void {
    for (const waiter of this.#waiters) waiter.settle(outcome);
  }

  #assertCurrent(generation: number): void {
    this.#assertOpen();
    if (generation !== this.#generation) throw new SessionError('aborted', 'The session was cleared');
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionError('closed', 'The session was closed');
  }

  #degraded(message: string, cause: unknown): void {
    this.#peer.report(new SessionError('sharing_degraded', message, { cause }));
  }
}

/** A failure another process had, as this one reports it. `retryAfter`: what is left of the wait (ms). */
function failureError(code: FailureCode, retryAfter: number | undefined): SessionError {
  const wait = retryAfter === undefined ? '' : `; retry in ${Math.ceil(retryAfter / 1000)} s`;
  return new SessionError(code, `The token request of another process failed (${code})${wait}`, retryAfter === undefined ? {} : { retryAfter });
}

/** The elements of a script's array reply (nil elements are null). */
function parts(reply: unknown, count: number): unknown[] {
  const values = Array.isArray(reply) ? (reply as unknown[]) : [];
  return Array.from({ length: count }, (_, index) => values[index] ?? null);
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function duration(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_DURATION) {
    throw new SessionError('invalid_options', `${name} must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  return value;
}
