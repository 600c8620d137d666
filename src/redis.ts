/**
 * Node and Deno servers on several machines: one token per credential for the whole fleet, coordinated in Redis
 * (a lock with a fencing id, the token stored with a TTL, Pub/Sub to tell the others). Secrets never reach Redis.
 *
 * @example
 * import { createClient } from 'redis';
 * const client = await createClient({ url: 'redis://redis.internal:6379' }).connect();
 * const session = createSession({ provider, sharing: redisSharing({ client }) });
 * @packageDocumentation
 */
export { redisSharing, type RedisSharingOptions } from './sharing/redis/sharing.js';
export type {
  IORedisClient,
  IORedisSubscriber,
  NodeRedisClient,
  NodeRedisClusterClient,
  NodeRedisSubscriber,
  RedisClient,
  RedisSubscriber,
} from './sharing/redis/client.js';
