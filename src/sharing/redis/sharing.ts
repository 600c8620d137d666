import { SessionError } from '../../core/errors.js';
import type { Sharing } from '../sharing.js';
import type { IORedisClient, IORedisSubscriber, NodeRedisSubscriber, RedisClient, RedisSubscriber } from './client.js';
import { MAX_DURATION } from './lease.js';
import { RedisLink, type Settings } from './link.js';
import { LIVENESS_PERIOD_IN_COMMAND_TIMEOUTS } from './liveness.js';
import { redisPort } from './port.js';

/** Options of {@link redisSharing}. */
export interface RedisSharingOptions<Client extends RedisClient = RedisClient> {
  /**
   * A connected client of `redis` (node-redis v4–v6: `createClient()` or `createCluster()`) or `ioredis` (v5, v6: a
   * `Redis` or a `Cluster`). It stays yours: never closed here.
   */
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
  /**
   * Longest time (ms) one Redis command may take; past it Redis counts as unavailable. Every two of these, each
   * session reads the sign-out epoch (the bound on a sign-out whose message was lost). Default 2 000.
   */
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
 *   connection was down) finds the new epoch when it reads Redis or resubscribes. Every session also reads the epoch
 *   on its own every two `commandTimeout`s (4 s by default), so that a sign-out reaches a process whose Pub/Sub
 *   connection went silent without closing (a NAT, a proxy) or may not subscribe (an ACL) within that bound.
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
    port: redisPort(options.client, options.subscriber as RedisSubscriber | undefined, commandTimeout, prefix),
    prefix,
    livenessPeriod: Math.min(MAX_DURATION, commandTimeout * LIVENESS_PERIOD_IN_COMMAND_TIMEOUTS),
    leaseTime: duration('leaseTime', options.leaseTime ?? DEFAULTS.leaseTime),
    timeout: duration('timeout', options.timeout ?? DEFAULTS.timeout),
    pollInterval: duration('pollInterval', options.pollInterval ?? DEFAULTS.pollInterval),
    onUnavailable,
  };
  return { kind: 'redis', acrossProcesses: true, connect: (peer) => new RedisLink(peer, settings) };
}

function duration(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_DURATION) {
    throw new SessionError('invalid_options', `${name} must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  return value;
}
