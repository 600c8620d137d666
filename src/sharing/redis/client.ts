import { isSessionError, SessionError } from '../../core/errors.js';

/** A Pub/Sub connection of node-redis: a `duplicate()` of the client, or one you pass as `subscriber`. */
export interface NodeRedisSubscriber {
  readonly isOpen?: boolean;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<unknown>;
  unsubscribe(channel: string, listener?: (message: string, channel: string) => unknown): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
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
  on(event: 'ready', listener: () => void): unknown;
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

/** What a link hears on its channel. */
export interface ChannelListener {
  /** A message published on the channel. */
  message(data: string): void;
  /**
   * The Pub/Sub connection came back and is subscribed again: messages published while it was away are lost, so
   * read what they said from Redis.
   */
  resubscribed(): void;
}

/**
 * What the sharing needs from Redis, whichever library talks to it: one command at a time, bounded in time, and
 * messages on channels. Every failure is a `sharing_unavailable` SessionError (its message names the command only).
 */
export interface RedisPort {
  command(args: readonly string[]): Promise<unknown>;
  /** Starts delivering `channel`'s messages to `listener`; any number of listeners per channel. */
  subscribe(channel: string, listener: ChannelListener): Promise<void>;
  unsubscribe(channel: string, listener: ChannelListener): void;
}

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
  const bounded = boundedBy(commandTimeout);
  // A subscriber you pass is shared by every redisSharing given it (one hub per connection, reference counted);
  // without one, this sharing duplicates the client for itself.
  const hub =
    subscriber === undefined
      ? new Hub(() => (client as { duplicate(): RedisSubscriber }).duplicate(), true, ioredis, bounded)
      : hubFor(subscriber, ioredis, bounded);
  return {
    command: (args) => bounded(args[0] === 'EVAL' ? 'a script' : args[0]!, () => run(args)),
    subscribe: (channel, listener) => hub.add(channel, listener),
    unsubscribe: (channel, listener) => hub.remove(channel, listener),
  };
}

type Bounded = <T>(what: string, start: () => Promise<T>) => Promise<T>;

function boundedBy(commandTimeout: number): Bounded {
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
          reject(isSessionError(error) ? error : new SessionError('sharing_unavailable', `Redis failed ${what}`, { cause: withoutCommand(error) }));
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

/** Hubs of the subscriber connections apps pass in: one per connection, whichever redisSharing uses it. */
const borrowed = new WeakMap<object, Hub>();

function hubFor(connection: RedisSubscriber, ioredis: boolean, bounded: Bounded): Hub {
  let hub = borrowed.get(connection);
  if (hub === undefined) borrowed.set(connection, (hub = new Hub(() => connection, false, ioredis, bounded)));
  return hub;
}

/**
 * One Pub/Sub connection and the listeners of each channel on it. A channel is subscribed while it has a listener
 * and unsubscribed after its last one leaves, so that a redisSharing closing never deafens another on the same
 * connection. Subscribing and unsubscribing run one after another, each deciding from the listeners at that time.
 * An own connection (a duplicate) is closed when its last channel goes, and made again on the next subscribe.
 */
class Hub {
  readonly #make: () => RedisSubscriber;
  readonly #own: boolean;
  readonly #ioredis: boolean;
  readonly #bounded: Bounded;
  readonly #listeners = new Map<string, Set<ChannelListener>>();
  /** Channels the server has confirmed (as far as we know). */
  readonly #subscribed = new Set<string>();
  #connection: Promise<RedisSubscriber> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(make: () => RedisSubscriber, own: boolean, ioredis: boolean, bounded: Bounded) {
    this.#make = make;
    this.#own = own;
    this.#ioredis = ioredis;
    this.#bounded = bounded;
  }

  async add(channel: string, listener: ChannelListener): Promise<void> {
    let listeners = this.#listeners.get(channel);
    if (listeners === undefined) this.#listeners.set(channel, (listeners = new Set()));
    listeners.add(listener);
    try {
      await this.#reconcile(channel);
    } catch (error) {
      // Not subscribed: leave, so that the next attempt subscribes again.
      this.remove(channel, listener);
      throw error;
    }
  }

  remove(channel: string, listener: ChannelListener): void {
    const listeners = this.#listeners.get(channel);
    if (listeners?.delete(listener) !== true) return;
    if (listeners.size > 0) return;
    this.#listeners.delete(channel);
    this.#reconcile(channel).catch(() => undefined);
  }

  /** Brings the server in line with the listeners of `channel`, after whatever was asked before. */
  #reconcile(channel: string): Promise<void> {
    const run = async (): Promise<void> => {
      const wanted = this.#listeners.has(channel);
      if (wanted && this.#subscribed.has(channel)) return;
      if (!wanted && !this.#subscribed.has(channel)) return this.#closeIfIdle();
      const connection = await this.#connect();
      if (wanted) {
        await this.#bounded('SUBSCRIBE', () => this.#subscribe(connection, channel));
        this.#subscribed.add(channel);
        return;
      }
      this.#subscribed.delete(channel);
      if (this.#own && this.#listeners.size === 0) return this.#closeIfIdle();
      await this.#bounded('UNSUBSCRIBE', () => this.#unsubscribe(connection, channel)).catch(() => undefined);
    };
    const step = this.#queue.then(run, run);
    this.#queue = step.catch(() => undefined);
    return step;
  }

  #connect(): Promise<RedisSubscriber> {
    if (this.#connection !== undefined) return this.#connection;
    const connection = this.#make();
    // Without a listener an `error` event (Redis restarting) would crash the process; the polling covers the gap.
    connection.on('error', () => undefined);
    // Both libraries subscribe again on their own after a reconnect; node-redis says `ready` once it has, ioredis
    // once it has sent the commands (so its channels are confirmed here first). Then the listeners catch up.
    connection.on('ready', () => void this.#resubscribed(connection));
    if (this.#ioredis) (connection as IORedisSubscriber).on('message', (channel, message) => this.#dispatch(channel, message));
    const made = this.#ioredis
      ? Promise.resolve(connection)
      : this.#bounded('the subscriber connection', async () => {
          const node = connection as NodeRedisSubscriber;
          if (node.isOpen !== true) await node.connect();
          return connection;
        });
    this.#connection = made.catch((error: unknown) => {
      this.#connection = undefined; // try again on the next subscribe, with a new connection
      if (this.#own) closeConnection(connection);
      throw error;
    });
    return this.#connection;
  }

  async #resubscribed(connection: RedisSubscriber): Promise<void> {
    if (this.#connection === undefined || (await this.#connection.catch(() => undefined)) !== connection) return;
    const channels = [...this.#subscribed].filter((channel) => this.#listeners.has(channel));
    if (channels.length === 0) return;
    if (this.#ioredis) {
      const confirmed = await this.#bounded('SUBSCRIBE', () => (connection as IORedisSubscriber).subscribe(...channels)).catch(() => false);
      if (confirmed === false) return;
    }
    for (const channel of channels) for (const listener of this.#listeners.get(channel) ?? []) listener.resubscribed();
  }

  #dispatch = (channel: string, message: string): void => {
    for (const listener of this.#listeners.get(channel) ?? []) listener.message(message);
  };

  #nodeListener = (message: string, channel: string): void => this.#dispatch(channel, message);

  #subscribe(connection: RedisSubscriber, channel: string): Promise<unknown> {
    return this.#ioredis
      ? (connection as IORedisSubscriber).subscribe(channel)
      : (connection as NodeRedisSubscriber).subscribe(channel, this.#nodeListener);
  }

  #unsubscribe(connection: RedisSubscriber, channel: string): Promise<unknown> {
    // node-redis: only our listener goes (the app may listen on the same connection).
    return this.#ioredis
      ? (connection as IORedisSubscriber).unsubscribe(channel)
      : (connection as NodeRedisSubscriber).unsubscribe(channel, this.#nodeListener);
  }

  /** An own connection without channels is closed at once; a borrowed one keeps running. */
  async #closeIfIdle(): Promise<void> {
    if (!this.#own || this.#listeners.size > 0 || this.#connection === undefined) return;
    const made = this.#connection;
    this.#connection = undefined;
    this.#subscribed.clear();
    const connection = await made.catch(() => undefined);
    if (connection !== undefined) closeConnection(connection);
  }
}

function closeConnection(connection: RedisSubscriber): void {
  try {
    const { destroy, disconnect } = connection as { destroy?: () => unknown; disconnect?: () => unknown };
    // `destroy` (node-redis v5+) or `disconnect` (v4, ioredis): at once, without waiting for a server that may be
    // gone. v4's `disconnect` returns a promise that rejects when the server is gone.
    Promise.resolve((destroy ?? disconnect)?.call(connection)).catch(() => undefined);
  } catch {
    // Closing is best effort: the connection is dropped either way.
  }
}
