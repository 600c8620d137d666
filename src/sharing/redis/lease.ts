import type { SessionError } from '../../core/errors.js';
import { isSessionError } from '../../core/errors.js';
import type { Token } from '../../core/token.js';
import type { SignOutEpochs } from '../rules/epochs.js';
import {
  ACQUIRE_SCRIPT,
  COMMIT_SCRIPT,
  decodeEpoch,
  encodeFailure,
  encodeMessage,
  encodeRecord,
  isFailureCode,
  type Keys,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
} from './protocol.js';
import { parts, type RedisStore } from './store.js';

/** setTimeout overflows past this. */
export const MAX_DURATION = 2_147_483_647;

export type Attempt =
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

/** How a commit ended: stored (and the others told, or not allowed to be), or refused. */
export type Commit = 'stored' | 'stored-unpublished' | 'not-stored' | 'signed-out';

/**
 * The election of the one process that fetches: a Redis lock (`SET NX PX`) whose value is the holder's fencing id,
 * renewed while the holder works, so that only a holder that died or hangs (stopped, blocked) is replaced — `leaseTime`
 * after its last renewal. Whatever it stores afterwards goes through the same lock (fencing).
 */
export class RedisLease {
  readonly #store: RedisStore;
  readonly #keys: Keys;
  readonly #leaseTime: number;
  readonly #epochs: SignOutEpochs;
  /** The session's id in messages, and the stem of its fencing ids. */
  readonly #sender: string;
  readonly #clock: { now(): number };

  constructor(store: RedisStore, keys: Keys, leaseTime: number, epochs: SignOutEpochs, sender: string, clock: { now(): number }) {
    this.#store = store;
    this.#keys = keys;
    this.#leaseTime = leaseTime;
    this.#epochs = epochs;
    this.#sender = sender;
    this.#clock = clock;
  }

  /** A new fencing id of this session. */
  fence(): string {
    return `${this.#sender}.${randomId()}`;
  }

  /**
   * Takes the lock, unless another process holds it or a remembered failure says to wait. `wanted()` says whether the
   * caller still wants it once it is taken (not signed out or closed meanwhile): if not, it is given back (`stale`).
   */
  async acquire(fence: string, wanted: () => boolean): Promise<Attempt> {
    const { lock, token, epoch, failure } = this.#keys;
    const mark = this.#epochs.mark;
    const sentAt = this.#clock.now();
    let reply: unknown;
    try {
      reply = await this.#store.runScript(ACQUIRE_SCRIPT, [lock, token, epoch, failure], [fence, String(this.#leaseTime)]);
    } catch (error) {
      // The script may still run once Redis answers again (clients queue commands while reconnecting). A release
      // queued behind it on the same connection frees the lock then, instead of blocking everyone for a lease.
      this.release(fence).catch(() => undefined);
      throw error;
    }
    const receivedAt = this.#clock.now();
    const [kind, value, ttl, stored, redisTime] = parts(reply, 5);
    const current = this.#epochs.observe(decodeEpoch(stored), mark);
    switch (Number(kind)) {
      case 2:
        if (!current || !wanted()) {
          await this.release(fence).catch(() => undefined);
          return { kind: 'stale' };
        }
        return {
          kind: 'acquired',
          token: await this.#store.storedToken(value, ttl, sentAt),
          epoch: decodeEpoch(stored),
          redisTime: Number(redisTime),
          receivedAt,
        };
      case 1:
        return { kind: 'held', holder: String(value) };
      default:
        return { kind: 'failed', failure: await this.#store.storedFailure(value, ttl) };
    }
  }

  /** Extends the lock every third of `leaseTime` while the token request runs; stops once it is no longer ours. */
  renewWhileWorking(fence: string): () => void {
    const leaseTime = this.#leaseTime;
    const timer = setInterval(() => {
      this.#store.runScript(RENEW_SCRIPT, [this.#keys.lock], [fence, String(leaseTime)]).then(
        (renewed) => Number(renewed) === 1 || clearInterval(timer),
        () => undefined, // Redis unavailable: try again next time; the lease may lapse meanwhile
      );
    }, Math.max(1, Math.floor(leaseTime / 3)));
    // Never keeps a process alive on its own: the token request does while it runs.
    (timer as { unref?: () => void }).unref?.();
    return () => clearInterval(timer);
  }

  /**
   * Stores `token` and releases the lock in one script, if the lock is still ours (or expired with nobody after it)
   * and no sign-out happened since it was taken. Throws when Redis does not answer.
   */
  async commit(fence: string, acquired: Extract<Attempt, { kind: 'acquired' }>, token: Token, ttl: number): Promise<Commit> {
    const now = this.#clock.now();
    // When this commit is sent, in Redis's clock (never later than the truth: the acquisition ran before its answer
    // came), so that Redis can tell how late it runs it.
    const sentInRedisClock = acquired.redisTime > 0 ? String(Math.floor(acquired.redisTime + (now - acquired.receivedAt))) : '';
    const { lock, channel, epoch } = this.#keys;
    const message = encodeMessage(this.#sender, { type: 'token', lease: fence });
    const mark = this.#epochs.mark;
    const reply = await this.#store.runScript(
      COMMIT_SCRIPT,
      [lock, this.#keys.token, epoch],
      [fence, encodeRecord(token), String(ttl), String(acquired.epoch), channel, message, sentInRedisClock],
    );
    const [status, second] = parts(reply, 2);
    if (Number(status) === -2) {
      // Redis lost its data since the lock was taken: a sign-out may be among what it lost.
      this.#epochs.lost();
      return 'signed-out';
    }
    if (Number(status) === -1) {
      this.#epochs.observe(decodeEpoch(second), mark);
      return 'signed-out';
    }
    if (Number(status) !== 1) return 'not-stored';
    return second === null ? 'stored' : 'stored-unpublished';
  }

  /** The token request failed: tell whoever waits for this lease, and remember a failure that says when to retry. */
  releaseFailed(fence: string, error: unknown): Promise<unknown> {
    const code = isSessionError(error) ? error.code : 'request_failed';
    if (!isFailureCode(code)) return this.release(fence);
    const retryAfter = isSessionError(error) ? error.retryAfter : undefined;
    const wait = retryAfter !== undefined && retryAfter > 0 ? Math.min(MAX_DURATION, Math.ceil(retryAfter)) : undefined;
    const message = encodeMessage(this.#sender, { type: 'failed', lease: fence, code, ...(wait === undefined ? {} : { retryAfter: wait }) });
    return wait === undefined ? this.release(fence, message) : this.release(fence, message, encodeFailure(code, fence), wait);
  }

  release(fence: string, message = '', failure = '', failureTtl = 0): Promise<unknown> {
    const { lock, channel } = this.#keys;
    return this.#store.runScript(RELEASE_SCRIPT, [lock, this.#keys.failure], [fence, channel, message, failure, String(failureTtl)]);
  }
}

export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
