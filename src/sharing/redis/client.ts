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

/**
 * The part of a node-redis Cluster client (`createCluster()`, v4 to v6) that `redisSharing` uses: its `sendCommand`
 * takes the key that routes the command first.
 */
export interface NodeRedisClusterClient {
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  duplicate(): NodeRedisSubscriber;
  readonly masters: readonly unknown[];
}

/** A connected client of `redis` (node-redis, a client or a Cluster) or `ioredis` (a client or a `Cluster`). */
export type RedisClient = NodeRedisClient | NodeRedisClusterClient | IORedisClient;
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
