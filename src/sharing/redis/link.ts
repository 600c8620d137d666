import { isSessionError, SessionError } from '../../core/errors.js';
import type { Token, TokenSet } from '../../core/token.js';
import { SignOutEpochs } from '../rules/epochs.js';
import type { SharedLink, SharingPeer } from '../sharing.js';
import type { ChannelListener } from './client.js';
import { type Attempt, RedisLease, randomId } from './lease.js';
import { checkEvery } from './liveness.js';
import type { RedisPort } from './port.js';
import { decodeMessage, type Keys, keysFor } from './protocol.js';
import { failureError, RedisStore } from './store.js';

/** Failures published for leases, kept for a waiter that learns whom it waits for after the message came. */
const RECENT_FAILURES = 16;

/** The options of `redisSharing`, resolved. */
export interface Settings {
  readonly port: RedisPort;
  readonly prefix: string;
  readonly leaseTime: number;
  readonly timeout: number;
  readonly pollInterval: number;
  /** How often the sign-out epoch is read on its own (ms): the bound on a sign-out whose message was lost. */
  readonly livenessPeriod: number;
  readonly onUnavailable: 'local' | 'error';
}

/** A caller of `obtain` waiting for the token request of lock holder `holder` (its fencing id). */
interface Waiter {
  readonly rejected: string | undefined;
  readonly holder: string;
  settle(outcome: Token | Error | undefined): void;
}

/**
 * One session's connection to Redis: it reads the token, takes the lease to fetch one (`lease.ts`), waits for another
 * process's, and hears the others on its channel. A class, not a literal with closures: a server pool may hold many.
 */
export class RedisLink implements SharedLink, ChannelListener {
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
  readonly #epochs: SignOutEpochs;
  readonly #store: RedisStore;
  readonly #lease: RedisLease;
  readonly #waiters = new Set<Waiter>();
  /** Bumped by every sign-out: a coordination that started before one stops. */
  #generation = 0;
  #closed = false;
  #subscribed = false;
  /** The subscription failed since it was last made: messages may have been missed, so read Redis when it works. */
  #missed = false;
  /** `failed` messages by the fencing id they answer, newest last (made on the first). */
  #failures: Map<string, SessionError> | undefined;
  #syncing = false;
  #syncAgain = false;
  /** Stops the liveness check (started by the first `obtain`: before it, nothing here can be signed out). */
  #stopLiveness: (() => void) | undefined;
  /**
   * A sign-out of this session that Redis did not take (unreachable, or refused by an ACL): what Redis holds is from
   * before it, so it is stored again before Redis is read, and until it is, this process fetches its own token.
   */
  #unclearedSignOut = false;
  /** Permission errors reported already, by message: each is told once per session. */
  readonly #told = new Set<string>();

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
    this.#epochs = new SignOutEpochs(() => {
      this.#forget();
      this.#peer.receiveClear();
    });
    this.#store = new RedisStore(settings.port, this.#keys, peer, this.#epochs);
    this.#lease = new RedisLease(this.#store, this.#keys, settings.leaseTime, this.#epochs, this.#id, peer.clock);
    this.#subscribe();
  }

  /** Not fatal when it fails: waiting processes poll Redis, the liveness check reads the epoch; `obtain` retries. */
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
        this.#degraded('Redis Pub/Sub is unavailable', `processes poll for tokens, and sign-outs reach this one within ${this.#bound()}`, error);
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
    this.#stopLiveness ??= checkEvery(this.#settings.livenessPeriod, () => this.#store.readEpoch());
    try {
      if (this.#unclearedSignOut) await this.#signOut();
      return { token: await this.#coordinate(rejected) };
    } catch (error) {
      if (!isUnreachable(error) || this.#settings.onUnavailable === 'error') throw error;
      this.#degraded('Redis is unavailable', 'this process fetched its own token', error);
      return this.#peer.fetchToken();
    }
  }

  async clear(): Promise<void> {
    this.#forget();
    this.#unclearedSignOut = true;
    try {
      const published = await this.#signOut();
      if (!published) {
        // Stored: the others apply it at their next read of the epoch, within the liveness bound, not at once.
        const channels = `The Redis user may not publish on \`&${this.#settings.prefix}*\``;
        this.#tell(new SessionError('permission_denied', `${channels}: the sign-out is stored, and other processes apply it within ${this.#bound()} instead of at once`));
      }
    } catch (error) {
      // Signed out here; the others keep their token until it expires. Say so, do not fail the sign-out.
      if (this.#settings.onUnavailable === 'error') throw error;
      this.#degraded('Redis is unavailable', 'the sign-out did not reach other processes', error);
    }
  }

  /** Stores this session's sign-out in Redis (the next epoch, the token and the lock gone); whether it was published. */
  async #signOut(): Promise<boolean> {
    const published = await this.#epochs.clearing(async () => {
      const cleared = await this.#store.clear(this.#id);
      this.#epochs.advance(cleared.epoch);
      return cleared.published;
    });
    this.#unclearedSignOut = false;
    return published;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#stopLiveness?.();
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
        if (!this.#epochs.advance(message.epoch)) return; // known already
        this.#forget();
        this.#peer.receiveClear();
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
      const { token, failure } = await this.#store.read();
      this.#assertCurrent(generation);
      if (token !== undefined && this.#peer.isUsable(token, rejected)) return token;
      if (failure !== undefined) throw failure;
      const fence = this.#lease.fence();
      const attempt = await this.#lease.acquire(fence, () => generation === this.#generation && !this.#closed);
      if (attempt.kind === 'failed') {
        if (attempt.failure !== undefined) throw attempt.failure;
        continue; // it was unreadable, and is deleted
      }
      if (attempt.kind === 'stale') {
        this.#assertCurrent(generation);
        continue;
      }
      if (attempt.kind === 'acquired') {
        // The token as it was when the lock became ours: the previous holder may have stored one since our read.
        if (attempt.token !== undefined && this.#peer.isUsable(attempt.token, rejected)) {
          await this.#lease.release(fence).catch(() => undefined);
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

  /** This process holds the lock: fetch here (where the secret is), then store and publish under the same lock. */
  async #fetchUnderLock(fence: string, acquired: Extract<Attempt, { kind: 'acquired' }>): Promise<Token> {
    const stopRenewing = this.#lease.renewWhileWorking(fence);
    let set: TokenSet;
    try {
      set = await this.#peer.fetchToken();
    } catch (error) {
      stopRenewing();
      // Best effort: if this is lost, the waiting processes take over when the lease expires.
      await this.#lease.releaseFailed(fence, error).catch(() => undefined);
      throw error;
    }
    stopRenewing();
    const { token } = set;
    const ttl = Math.floor(token.expiresAt - this.#peer.clock.now());
    if (ttl <= 0) {
      // Expired on arrival (the core refuses it too): a failure for whoever waits, never a token to store.
      const expired = new SessionError('invalid_response', 'The token endpoint sent a token that had expired when it arrived');
      await this.#lease.releaseFailed(fence, expired).catch(() => undefined);
      throw expired;
    }
    let commit;
    try {
      // 'not-stored': another process holds the lock now, or a longer-lived token was stored after our lease
      // expired. Its token wins in Redis; ours is still valid for the callers in this process.
      commit = await this.#lease.commit(fence, acquired, token, ttl);
    } catch (error) {
      // This process has its token; the others get theirs after the lease expires. Say so, do not fail.
      this.#degraded('The token could not be stored in Redis', 'the other processes get theirs after the lease', error);
      return token;
    }
    // Signed out (by another process) while the request ran: its token is dead here too.
    if (commit === 'signed-out') throw new SessionError('aborted', 'The session was cleared while its token was requested');
    return token;
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
        const { token } = await this.#store.read();
        if (this.#closed || token === undefined) continue;
        this.#peer.receiveToken(token);
        for (const waiter of this.#waiters) if (this.#peer.isUsable(token, waiter.rejected)) waiter.settle(token);
      } while (this.#syncAgain && !this.#closed);
    };
    run()
      .catch(() => undefined) // Redis unavailable: waiting callers poll; the next obtain reads again
      .finally(() => (this.#syncing = false));
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

  /** How long a sign-out may take to reach this process without its message, in words. */
  #bound(): string {
    return `${Math.ceil(this.#settings.livenessPeriod / 1000)} s`;
  }

  /**
   * Something failed that the app should know of. A refused permission is reported as itself (`permission_denied`,
   * naming what is missing; once per session), with what it cost; anything else as `sharing_degraded`.
   */
  #degraded(what: string, cost: string, cause: unknown): void {
    if (isSessionError(cause, 'permission_denied')) {
      this.#tell(new SessionError('permission_denied', `${cause.message}. Meanwhile ${cost}`, { cause }));
      return;
    }
    this.#peer.report(new SessionError('sharing_degraded', `${what}: ${cost}`, { cause }));
  }

  #tell(error: SessionError): void {
    if (this.#told.has(error.message)) return;
    this.#told.add(error.message);
    this.#peer.report(error);
  }
}

/** Redis cannot serve this process: unreachable, too slow, or refusing it (an ACL). */
function isUnreachable(error: unknown): boolean {
  return isSessionError(error, 'sharing_unavailable') || isSessionError(error, 'permission_denied');
}
