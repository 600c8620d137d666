// Sessions that act as processes of a fleet inside one test process: each `open()` has its own Redis client and its
// own `redisSharing`, so two of them coordinate only through Redis. A fresh redis-server per test, one token server
// per file (test/support/token-server.ts).
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import {
  clientCredentials,
  type ClientCredentialsOptions,
  type Clock,
  createSession,
  type Session,
  type SessionError,
} from '../../src/index.js';
import { type RedisClient, redisSharing, type RedisSharingOptions } from '../../src/redis.js';
import { type Keys, keysFor } from '../../src/sharing/redis/protocol.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export type Library = 'redis' | 'ioredis';

/** A "process": its session, what it reported, and its Redis client. */
export interface Opened {
  readonly session: Session;
  readonly errors: SessionError[];
  readonly cleared: string[];
  /** The provider's credential key. */
  readonly key: string;
  /** Redis names of the credential under the default prefix. */
  readonly keys: Keys;
  readonly client: RedisClient;
}

/** What `createSession` gets besides provider and sharing. */
export interface SessionSettings {
  readonly clock?: Clock;
  readonly fetch?: typeof globalThis.fetch;
  readonly refreshBeforeExpiry?: number;
}

export interface RedisSessions {
  readonly tokens: TokenServer;
  /** This test's redis-server. */
  readonly redis: RedisServer;
  /** Run after the test, last added first. */
  readonly cleanups: Array<() => unknown>;
  /** A client id no other test uses. */
  clientId(): string;
  connect(library: Library): Promise<RedisClient>;
  /** A session for `clientId` (registered with the token server) on its own client and its own redisSharing. */
  open(
    library: Library,
    clientId: string,
    options?: Omit<RedisSharingOptions, 'client'>,
    provider?: Partial<ClientCredentialsOptions>,
    settings?: SessionSettings,
  ): Promise<Opened>;
  /** How many connections are subscribed to `channel`. */
  subscribers(channel: string): Promise<number>;
  /** A raw command on `client`, pipelined with what the session sends on it. */
  send(client: RedisClient, ...args: string[]): Promise<unknown>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function useRedisSessions(name: string): RedisSessions {
  let tokens: TokenServer | undefined;
  let redis: RedisServer | undefined;
  const cleanups: Array<() => unknown> = [];
  let clientNumber = 0;

  beforeAll(async () => {
    tokens = await startTokenServer();
  });
  afterAll(() => tokens?.close());
  beforeEach(async () => {
    tokens!.reset();
    redis = await startRedisServer();
  });
  afterEach(async () => {
    redis?.resume();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await redis?.stop();
  });

  const env: RedisSessions = {
    get tokens() {
      return tokens!;
    },
    get redis() {
      return redis!;
    },
    cleanups,
    clientId: () => `${name}-${++clientNumber}`,
    async connect(library) {
      if (library === 'ioredis') {
        const client = new Redis(redis!.url, { maxRetriesPerRequest: 1 });
        client.on('error', () => undefined);
        cleanups.push(() => client.disconnect());
        return client;
      }
      const client = await createClient({ url: redis!.url }).on('error', () => undefined).connect();
      cleanups.push(() => client.destroy());
      return client;
    },
    async open(library, clientId, options = {}, provider = {}, settings = {}) {
      const { secret } = tokens!.addClient(clientId, `secret-of-${clientId}`);
      const credentials = clientCredentials({ tokenUrl: tokens!.tokenUrl, clientId, clientSecret: secret, ...provider });
      const client = await env.connect(library);
      const session = createSession({
        provider: credentials,
        sharing: redisSharing({ client, ...options } as RedisSharingOptions),
        ...settings,
      });
      const errors: SessionError[] = [];
      const cleared: string[] = [];
      session.on('error', (error) => errors.push(error));
      session.on('cleared', (origin) => cleared.push(origin));
      cleanups.push(() => session.close());
      return { session, errors, cleared, key: credentials.key, keys: keysFor(options.prefix ?? 'shared-session:', credentials.key), client };
    },
    async subscribers(channel) {
      return Number((await redis!.cli('PUBSUB', 'NUMSUB', channel)).split('\n')[1]);
    },
    send(client, ...args) {
      return client instanceof Redis ? client.call(args[0]!, ...args.slice(1)) : (client as ReturnType<typeof createClient>).sendCommand(args);
    },
  };
  return env;
}
