import type { ChannelListener, IORedisSubscriber, NodeRedisSubscriber, RedisSubscriber } from './client.js';

/** Runs `start`, failing with a `sharing_unavailable` (or `permission_denied`) SessionError past `commandTimeout`. */
export type Bounded = <T>(what: string, start: () => Promise<T>) => Promise<T>;

/** Hubs of the subscriber connections apps pass in: one per connection, whichever redisSharing uses it. */
const borrowed = new WeakMap<object, Hub>();

export function hubFor(connection: RedisSubscriber, ioredis: boolean, bounded: Bounded): Hub {
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
export class Hub {
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
