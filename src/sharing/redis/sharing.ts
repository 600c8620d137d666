import { isSessionError, SessionError } from '../../core/errors.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing.js';
import type { Token, TokenSet } from '../../core/token.js';
import {
  type IORedisClient,
  type IORedisSubscriber,
  type NodeRedisSubscriber,
  type RedisClient,
  type RedisPort,
  redisPort,
  type RedisSubscriber,
} from './client.js';
import {
  CLEAR_SCRIPT,
  COMMIT_SCRIPT,
  decodeMessage,
  decodeRecord,
  DELETE_IF_SCRIPT,
  encodeMessage,
  encodeRecord,
  isFailureCode,
  type Keys,
  keysFor,
  RELEASE_SCRIPT,
} from './protocol.js';

/** Options of {@link redisSharing}. */
export interface RedisSharingOptions<Client extends RedisClient = RedisClient> {
  /** A connected client of `redis` (node-redis v4–v6) or `ioredis` (v5, v6). It stays yours: never closed here. */
  readonly client: Client;
  /**
   * The connection for Pub/Sub. Default: `client.duplicate()`, connected on first use and closed when the last
   * session using it closes. A subscriber you pass stays yours.
   */
  readonly subscriber?: (Client extends IORedisClient ? IORedisSubscriber : NodeRedisSubscriber) | undefined;
  /** Prefix of every key and channel. Default `'shared-session:'`. */
  readonly prefix?: string | undefined;
  /**
   * How long (ms) the process that fetches a token holds the lock before another process may try instead (the
   * holder died, or hangs). Keep it longer than the provider's retries take. Default 30 000.
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

interface Settings {
  readonly port: RedisPort;
  readonly prefix: string;
  readonly leaseTime: number;
  readonly timeout: number;
  readonly pollInterval: number;
  readonly onUnavailable: 'local' | 'error';
}

/** A caller of `obtain` waiting for another process's token. */
interface Waiter {
  readonly rejected: string | undefined;
  settle(outcome: Token | Error | undefined): void;
}

/**
 * Shares one token per credential between the processes of a server fleet through Redis. Pass it as the `sharing`
 * option of `createSession`.
 *
 * - A Redis lock (`SET NX PX` with a random fencing id) elects the one process that calls the token endpoint; the
 *   request runs in that process, where the client secret lives. Redis never sees a secret.
 * - The token is stored with a TTL that ends at its expiry and published on a channel, so every process adopts it
 *   without a request; processes waiting for it also read Redis again every `pollInterval`, in case a message is lost.
 * - Only the process that still holds the lock may store its token (Lua compare-and-set on the fencing id): a holder
 *   that was paused or slow past its lease cannot overwrite a newer token.
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

// A class, not a literal with closures: a server pool may hold many links.
class RedisLink implements SharedLink {
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
  /** Tokens issued before this (epoch ms, the latest sign-out seen) are dead. */
  #clearedAt = 0;
  /** Bumped by every sign-out: a coordination that started before one stops. */
  #generation = 0;
  #closed = false;
  #subscribed = false;

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
    this.#settings.port.subscribe(this.#keys.channel, (message) => this.#receive(message)).catch((error: unknown) => {
      if (this.#closed) return;
      this.#subscribed = false;
      this.#degraded('Redis Pub/Sub is unavailable: processes poll for tokens instead', error);
    });
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
    this.#forget(this.#peer.clock.now());
    const { token, lock, channel } = this.#keys;
    const message = encodeMessage(this.#id, { type: 'clear', at: this.#clearedAt });
    try {
      await this.#command(['EVAL', CLEAR_SCRIPT, '2', token, lock, channel, message]);
    } catch (error) {
      // Signed out here; the others keep their token until it expires. Say so, do not fail the sign-out.
      if (this.#settings.onUnavailable === 'error') throw error;
      this.#degraded('Redis is unavailable: the sign-out did not reach other processes', error);
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#settleAll(new SessionError('closed', 'The session was closed'));
    this.#settings.port.unsubscribe(this.#keys.channel);
    return Promise.resolve();
  }

  /** A usable token: the stored one, or one this process fetches under the lock, or the lock holder's. */
  async #coordinate(rejected: string | undefined): Promise<Token> {
    const { leaseTime, timeout, pollInterval } = this.#settings;
    const generation = this.#generation;
    const deadline = this.#peer.clock.now() + timeout;
    for (;;) {
      const stored = await this.#read();
      if (stored !== undefined && this.#peer.isUsable(stored, rejected)) return stored;
      this.#assertCurrent(generation);
      const fence = `${this.#id}.${randomId()}`;
      if (await this.#acquire(fence, leaseTime)) {
        // Read again under the lock: the previous holder may have stored its token between our read and our lock.
        const latest = await this.#read().catch((error: unknown) => {
          void this.#release(fence, '');
          throw error;
        });
        if (latest !== undefined && this.#peer.isUsable(latest, rejected)) {
          await this.#release(fence, '').catch(() => undefined);
          return latest;
        }
        return this.#fetchUnderLock(fence);
      }
      const left = deadline - this.#peer.clock.now();
      if (left <= 0) throw new SessionError('timeout', 'Timed out waiting for another process to fetch the token');
      const outcome = await this.#wait(rejected, Math.min(pollInterval, left));
      if (outcome instanceof Error) throw outcome;
      if (outcome !== undefined) return outcome;
      this.#assertCurrent(generation);
    }
  }

  /** This process holds the lock: fetch here (where the secret is), then store and publish under the same lock. */
  async #fetchUnderLock(fence: string): Promise<Token> {
    let set: TokenSet;
    try {
      set = await this.#peer.fetchToken();
    } catch (error) {
      const code = isSessionError(error) ? error.code : 'request_failed';
      const failure = isFailureCode(code) ? encodeMessage(this.#id, { type: 'failed', code }) : '';
      // Best effort: if this is lost, the waiting processes take over when the lease expires.
      await this.#release(fence, failure).catch(() => undefined);
      throw error;
    }
    const { token } = set;
    const ttl = Math.ceil(token.expiresAt - this.#peer.clock.now());
    if (ttl <= 0) {
      await this.#release(fence, '').catch(() => undefined);
      return token;
    }
    const { lock, channel } = this.#keys;
    const message = encodeMessage(this.#id, { type: 'token', token });
    try {
      // 0: the lease expired and another process holds the lock now, or a sign-out deleted it. Its token (or none)
      // wins; ours is still valid for the callers in this process.
      await this.#command(['EVAL', COMMIT_SCRIPT, '2', lock, this.#keys.token, fence, encodeRecord(token), String(ttl), channel, message]);
    } catch (error) {
      // This process has its token; the others get theirs after the lease expires. Say so, do not fail.
      this.#degraded('The token could not be stored in Redis', error);
    }
    return token;
  }

  async #read(): Promise<Token | undefined> {
    const value = await this.#command(['GET', this.#keys.token]);
    const token = decodeRecord(value);
    if (token === 'corrupt') {
      this.#peer.report(new SessionError('corrupt_storage', 'Deleted an unreadable token record in Redis'));
      // Only if it is still the value we read: a token stored meanwhile stays.
      await this.#command(['EVAL', DELETE_IF_SCRIPT, '1', this.#keys.token, String(value)]);
      return undefined;
    }
    return token !== undefined && token.issuedAt >= this.#clearedAt ? token : undefined;
  }

  async #acquire(fence: string, leaseTime: number): Promise<boolean> {
    try {
      return (await this.#command(['SET', this.#keys.lock, fence, 'NX', 'PX', String(leaseTime)])) !== null;
    } catch (error) {
      // The SET may still run once Redis answers again (clients queue commands while reconnecting). A release
      // queued behind it on the same connection frees the lock then, instead of blocking everyone for a lease.
      this.#release(fence, '').catch(() => undefined);
      throw error;
    }
  }

  #release(fence: string, message: string): Promise<unknown> {
    return this.#command(['EVAL', RELEASE_SCRIPT, '1', this.#keys.lock, fence, this.#keys.channel, message]);
  }

  #command(args: readonly string[]): Promise<unknown> {
    return this.#settings.port.command(args);
  }

  /** Resolves with a usable token published meanwhile, an error to fail with, or undefined after `ms`. */
  #wait(rejected: string | undefined, ms: number): Promise<Token | Error | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        rejected,
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

  #receive(data: string): void {
    const message = decodeMessage(data);
    if (message === undefined) {
      this.#peer.report(new SessionError('invalid_message', 'Ignored a malformed message on the Redis channel'));
      return;
    }
    if (message.from === this.#id || this.#closed) return;
    switch (message.type) {
      case 'token': {
        const { token } = message;
        if (token.issuedAt < this.#clearedAt) return; // requested before a sign-out that reached us first
        this.#peer.receiveToken(token);
        for (const waiter of this.#waiters) if (this.#peer.isUsable(token, waiter.rejected)) waiter.settle(token);
        return;
      }
      case 'failed':
        this.#settleAll(new SessionError(message.code, `Another process could not get a token (${message.code})`));
        return;
      case 'clear':
        this.#forget(message.at);
        this.#peer.receiveClear();
        return;
    }
  }

  /** Sign-out at `at`, here or elsewhere: forget tokens issued before it and stop waiting for one. */
  #forget(at: number): void {
    // Clamped to our clock: a forged or skewed timestamp must not kill every future token.
    this.#clearedAt = Math.max(this.#clearedAt, Math.min(at, this.#peer.clock.now()));
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
