import { isSessionError, SessionError } from '../../core/errors.js';
import { permissionError } from './permissions.js';
import { type Bounded, Hub, hubFor } from './pubsub.js';
import type {
  ChannelListener,
  IORedisClient,
  NodeRedisClient,
  NodeRedisClusterClient,
  RedisClient,
  RedisSubscriber,
} from './client.js';

/**
 * What the sharing needs from Redis, whichever library talks to it: one command at a time, bounded in time, and
 * messages on channels. Every failure is a `sharing_unavailable` SessionError (its message names the command only).
 */
export interface RedisPort {
  /** `key`: the first key the command touches, which routes it in a Cluster. */
  command(args: readonly string[], key: string): Promise<unknown>;
  /** Starts delivering `channel`'s messages to `listener`; any number of listeners per channel. */
  subscribe(channel: string, listener: ChannelListener): Promise<void>;
  unsubscribe(channel: string, listener: ChannelListener): void;
}

/**
 * Wraps `client` (checked at run time: a wrong object is `invalid_options`). The subscriber connects on first use.
 * `prefix` names the keys and channels in a permission error.
 */
export function redisPort(client: RedisClient, subscriber: RedisSubscriber | undefined, commandTimeout: number, prefix: string): RedisPort {
  const candidate = client as Partial<NodeRedisClient & IORedisClient & { masters: unknown; nodeClient: unknown }> | null | undefined;
  const hasSubscriber = subscriber !== undefined || typeof candidate?.duplicate === 'function';
  // ioredis also has a `sendCommand` (of Command objects), so `call` decides; ioredis's `Cluster` routes by itself.
  // node-redis's Cluster has a `sendCommand(firstKey, isReadonly, args)`: the key routes it.
  const cluster = candidate !== null && candidate !== undefined && ('masters' in candidate || typeof candidate.nodeClient === 'function');
  const run =
    typeof candidate?.call === 'function'
      ? (args: readonly string[]) => (candidate as IORedisClient).call(args[0]!, ...args.slice(1))
      : typeof candidate?.sendCommand === 'function'
        ? cluster
          ? (args: readonly string[], key: string) => (candidate as unknown as NodeRedisClusterClient).sendCommand(key, false, [...args])
          : (args: readonly string[]) => (candidate as NodeRedisClient).sendCommand([...args])
        : undefined;
  if (run === undefined || !hasSubscriber) {
    throw new SessionError('invalid_options', 'redisSharing needs a connected `redis` (node-redis) or `ioredis` client');
  }
  const ioredis = typeof candidate?.call === 'function';
  const bounded = boundedBy(commandTimeout, prefix);
  // A subscriber you pass is shared by every redisSharing given it (one hub per connection, reference counted);
  // without one, this sharing duplicates the client for itself.
  const hub =
    subscriber === undefined
      ? new Hub(() => (client as { duplicate(): RedisSubscriber }).duplicate(), true, ioredis, bounded)
      : hubFor(subscriber, ioredis, bounded);
  return {
    command: (args, key) => bounded(args[0] === 'EVAL' ? 'a script' : args[0]!, () => run(args, key)),
    subscribe: (channel, listener) => hub.add(channel, listener),
    unsubscribe: (channel, listener) => hub.remove(channel, listener),
  };
}

function boundedBy(commandTimeout: number, prefix: string): Bounded {
  return <T>(what: string, start: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SessionError('sharing_unavailable', `Redis did not answer ${what} within ${commandTimeout} ms`));
      }, commandTimeout);
      const settle = (): void => clearTimeout(timer);
      let promise: Promise<T>;
      try {
        promise = start();
      } catch (error) {
        promise = Promise.reject(error as Error);
      }
      promise.then(
        (value) => (settle(), resolve(value)),
        (error: unknown) => {
          settle();
          if (isSessionError(error)) return reject(error);
          // Refused by an ACL: Redis is there, the user lacks a permission — say which, not "unavailable".
          reject(permissionError(error, prefix) ?? new SessionError('sharing_unavailable', `Redis failed ${what}`, { cause: withoutCommand(error) }));
        },
      );
    });
}

/**
 * The client's error without what it may carry of the command: ioredis attaches `command.args` (a stored record holds
 * an access token) to reply and abort errors. Name and message only; Redis's own messages do not quote arguments.
 */
function withoutCommand(error: unknown): Error | undefined {
  if (!(error instanceof Error)) return undefined;
  const copy = new Error(error.message);
  copy.name = error.name;
  return copy;
}

