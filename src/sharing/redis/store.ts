import { SessionError } from '../../core/errors.js';
import { boundedByClock, type Token } from '../../core/token.js';
import type { SignOutEpochs } from '../rules/epochs.js';
import type { SharingPeer } from '../sharing.js';
import type { RedisPort } from './port.js';
import {
  CLEAR_SCRIPT,
  decodeEpoch,
  decodeFailure,
  decodeRecord,
  DELETE_IF_SCRIPT,
  type FailureCode,
  type Keys,
  READ_SCRIPT,
  tokenFromRecord,
} from './protocol.js';

/** What one read of Redis found: the stored token (in this clock) if it is current, and a remembered failure. */
export interface Found {
  readonly token: Token | undefined;
  readonly failure: SessionError | undefined;
}

/**
 * The records of one credential in Redis, as one session reads and writes them: the token, the remembered failure
 * and the sign-out epoch (every read of it goes through `epochs`). The lock is the lease's (`lease.ts`).
 */
export class RedisStore {
  readonly #port: RedisPort;
  readonly #keys: Keys;
  readonly #peer: SharingPeer;
  readonly #epochs: SignOutEpochs;

  constructor(port: RedisPort, keys: Keys, peer: SharingPeer, epochs: SignOutEpochs) {
    this.#port = port;
    this.#keys = keys;
    this.#peer = peer;
    this.#epochs = epochs;
  }

  /** Runs a script; its first key routes it in a Cluster (every key of a credential shares one hash tag). */
  runScript(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#port.command(['EVAL', script, String(keys.length), ...keys, ...args], keys[0]!);
  }

  /** One round trip: the token (if it is of the current epoch), the epoch (a missed sign-out is applied), a failure. */
  async read(): Promise<Found> {
    const { token, epoch, failure } = this.#keys;
    const mark = this.#epochs.mark;
    const sentAt = this.#peer.clock.now();
    const reply = await this.runScript(READ_SCRIPT, [token, epoch, failure], []);
    const [record, ttl, stored, failed, failedTtl] = parts(reply, 5);
    const current = this.#epochs.observe(decodeEpoch(stored), mark);
    return {
      token: current ? await this.storedToken(record, ttl, sentAt) : undefined,
      failure: await this.storedFailure(failed, failedTtl),
    };
  }

  /** The liveness check: the epoch alone, so that a sign-out whose message was lost is applied within a bound. */
  async readEpoch(): Promise<void> {
    const mark = this.#epochs.mark;
    const stored = await this.#port.command(['GET', this.#keys.epoch], this.#keys.epoch);
    this.#epochs.observe(decodeEpoch(stored), mark);
  }

  /** Sign-out: the next epoch, the token and the lock gone, in one script. `published`: the others were told. */
  async clear(sender: string): Promise<{ readonly epoch: number; readonly published: boolean }> {
    const { epoch, token, lock, channel } = this.#keys;
    const [cleared, published] = parts(await this.runScript(CLEAR_SCRIPT, [epoch, token, lock], [String(this.#epochs.known), channel, sender]), 2);
    return { epoch: decodeEpoch(cleared), published: Number(published) === 1 };
  }

  /** A stored record as a token of this clock: it expires `ttl` after the read was sent. */
  async storedToken(value: unknown, ttl: unknown, sentAt: number): Promise<Token | undefined> {
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
  async storedFailure(value: unknown, ttl: unknown): Promise<SessionError | undefined> {
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
    await this.runScript(DELETE_IF_SCRIPT, [key], [String(value)]);
  }
}

/** A failure another process had, as this one reports it. `retryAfter`: what is left of the wait (ms). */
export function failureError(code: FailureCode, retryAfter: number | undefined): SessionError {
  const wait = retryAfter === undefined ? '' : `; retry in ${Math.ceil(retryAfter / 1000)} s`;
  return new SessionError(code, `The token request of another process failed (${code})${wait}`, retryAfter === undefined ? {} : { retryAfter });
}

/** The elements of a script's array reply (nil elements are null). */
export function parts(reply: unknown, count: number): unknown[] {
  const values = Array.isArray(reply) ? (reply as unknown[]) : [];
  return Array.from({ length: count }, (_, index) => values[index] ?? null);
}
