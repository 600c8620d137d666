import { isSessionError, SessionError } from '../../core/errors.js';

/** A Pub/Sub connection of node-redis: a `duplicate()` of the client, or one you pass as `subscriber`. */
export interface NodeRedisSubscriber {
  readonly isOpen?: boolean;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy?(): unknown;
  disconnect?(): unknown;
}

/** The part of a node-redis client (package `redis` or `@redis/client`, v4 to v6) that `redisSharing` uses. */
export interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): NodeRedisSubscriber;
}

/** A Pub/Sub connection of ioredis: a `duplicate()` of the client, or one you pass as `subscriber`. */
export interface IORedisSubscriber {
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  disconnect(): unknown;
}

/** The part of an ioredis (v5, v6) client that `redisSharing` uses. */
export interface IORedisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  duplicate(): IORedisSubscriber;
}

/** A connected client of `redis` (node-redis) or `ioredis`. */
export type RedisClient = NodeRedisClient | IORedisClient;
/** A connection for Pub/Sub of the same library as the client. */
export type RedisSubscriber = NodeRedisSubscriber | IORedisSubscriber;

/**
 * What the sharing needs from Redis, whichever library talks to it: one command at a time, bounded in time, and
 * messages on channels. Every failure is a `sharing_unavailable` SessionError (its message names the command only).
 */
export interface RedisPort {
  command(args: readonly string[]): Promise<unknown>;
  /** Starts delivering `channel`'s messages to `handler` (one handler per channel). */
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  unsubscribe(channel: string): void;
}

type Handlers = Map<string, (message: string) => void>;

/** Wraps `client` (checked at run time: a wrong object is `invalid_options`). The subscriber connects on first use. */
export function redisPort(client: RedisClient, subscriber: RedisSubscriber | undefined, commandTimeout: number): RedisPort {
  const candidate = client as Partial<NodeRedisClient & IORedisClient> | null | undefined;
  const hasSubscriber = subscriber !== undefined || typeof candidate?.duplicate === 'function';
  // ioredis also has a `sendCommand` (of Command objects), so `call` decides.
  const run =
    typeof candidate?.call === 'function'
      ? (args: readonly string[]) => (candidate as IORedisClient).call(args[0]!, ...args.slice(1))
      : typeof candidate?.sendCommand === 'function'
        ? (args: readonly string[]) => (candidate as NodeRedisClient).sendCommand([...args])
        : undefined;
  if (run === undefined || !hasSubscriber) {
    throw new SessionError('invalid_options', 'redisSharing needs a connected `redis` (node-redis) or `ioredis` client');
  }
  const ioredis = typeof candidate?.call === 'function';
  const handlers: Handlers = new Map();
  let connecting: Promise<Subscription> | undefined;

  const bounded = <T>(what: string, start: () => Promise<T>): Promise<T> =>
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
          reject(isSessionError(error) ? error : new SessionError('sharing_unavailable', `Redis failed ${what}`, { cause: error }));
        },
      );
    });

  const subscription = (): Promise<Subscription> => {
    if (connecting !== undefined) return connecting;
    const own = subscriber === undefined;
    const connection = subscriber ?? (client as { duplicate(): RedisSubscriber }).duplicate();
    // Without a listener an `error` event (Redis restarting) would crash the process; the polling covers the gap.
    connection.on('error', () => undefined);
    const made = ioredis
      ? Promise.resolve(ioredisSubscription(connection as IORedisSubscriber, handlers, own))
      : bounded('the subscriber connection', () => nodeRedisSubscription(connection as NodeRedisSubscriber, handlers, own));
    connecting = made.catch((error: unknown) => {
      connecting = undefined; // try again on the next subscribe, with a new connection
      if (own) closeConnection(connection);
      throw error;
    });
    return connecting;
  };

  return {
    command: (args) => bounded(args[0] === 'EVAL' ? 'a script' : args[0]!, () => run(args)),
    async subscribe(channel, handler) {
      handlers.set(channel, handler);
      const current = await subscription();
      if (handlers.get(channel) === handler) await bounded('SUBSCRIBE', () => current.add(channel));
    },
    unsubscribe(channel) {
      if (!handlers.delete(channel)) return;
      const current = connecting;
      void current?.then((made) => {
        // Subscribed again meanwhile (a session for the same credential opened right after this one closed).
        if (handlers.has(channel)) return;
        if (handlers.size > 0) return made.remove(channel).catch(() => undefined);
        // The last channel: an own connection is closed, a borrowed one keeps running.
        if (connecting === current) connecting = undefined;
        return made.close(channel).catch(() => undefined);
      }, () => undefined);
    },
  };
}

interface Subscription {
  add(channel: string): Promise<unknown>;
  remove(channel: string): Promise<unknown>;
  close(channel: string): Promise<unknown>;
}

function ioredisSubscription(connection: IORedisSubscriber, handlers: Handlers, own: boolean): Subscription {
  connection.on('message', (channel, message) => handlers.get(channel)?.(message));
  return {
    add: (channel) => connection.subscribe(channel),
    remove: (channel) => connection.unsubscribe(channel),
    close: async (channel) => (own ? closeConnection(connection) : connection.unsubscribe(channel)),
  };
}

async function nodeRedisSubscription(connection: NodeRedisSubscriber, handlers: Handlers, own: boolean): Promise<Subscription> {
  if (connection.isOpen !== true) await connection.connect();
  const dispatch = (message: string, channel: string): void => handlers.get(channel)?.(message);
  return {
    add: (channel) => connection.subscribe(channel, dispatch),
    remove: (channel) => connection.unsubscribe(channel),
    close: async (channel) => {
      if (!own) return connection.unsubscribe(channel);
      // `destroy` (v5+) or `disconnect` (v4): at once, without waiting for a server that may be gone.
      return closeConnection(connection);
    },
  };
}

function closeConnection(connection: RedisSubscriber): void {
  try {
    const { destroy, disconnect } = connection as { destroy?: () => unknown; disconnect?: () => unknown };
    // v4's `disconnect` returns a promise that rejects when the server is gone.
    Promise.resolve((destroy ?? disconnect)?.call(connection)).catch(() => undefined);
  } catch {
    // Closing is best effort: the connection is dropped either way.
  }
}
