/**
 * `npm run bench -- redis`: getToken with `redisSharing` against a real redis-server and the real token server.
 * Cold start (one request for 10,000 callers), cached reads (memory, no Redis), and adoption of a token another
 * process stored (one EVAL: token, TTL, sign-out epoch). Prints numbers; asserts nothing.
 */
import { createClient } from 'redis';
import { clientCredentials, createSession } from '../src/index.js';
import { redisSharing } from '../src/redis.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { startTokenServer } from '../test/support/token-server.js';

const [redis, server] = await Promise.all([startRedisServer(), startTokenServer()]);
const client = await createClient({ url: redis.url }).connect();
const credentials = server.addClient('bench');
const provider = clientCredentials({ tokenUrl: server.tokenUrl, clientId: credentials.id, clientSecret: credentials.secret });
const session = createSession({ provider, sharing: redisSharing({ client }) });

const coldStarted = performance.now();
await Promise.all(Array.from({ length: 10_000 }, () => session.getToken()));
const coldMs = performance.now() - coldStarted;

const iterations = 1_000_000;
for (let index = 0; index < 100_000; index++) await session.getToken();
const started = performance.now();
for (let index = 0; index < iterations; index++) await session.getToken();
const cachedSeconds = (performance.now() - started) / 1000;

// A new "process" (its own sharing, so its own core and Pub/Sub connection) adopting the stored token.
const adoptions = 200;
let adoptMs = 0;
for (let index = 0; index < adoptions; index++) {
  const other = createSession({ provider, sharing: redisSharing({ client }) });
  const begin = performance.now();
  await other.getToken();
  adoptMs += performance.now() - begin;
  await other.close();
}

console.log('shared-session redis bench (Node %s, %s)', process.version, (await redis.cli('INFO', 'server')).match(/redis_version:(\S+)/)?.[1]);
console.table({
  'cold start, 10,000 concurrent getToken': { value: `${coldMs.toFixed(1)} ms`, 'token requests': server.stats.tokenRequests },
  'cached getToken (memory)': { value: `${Math.round(iterations / cachedSeconds).toLocaleString('en')} ops/s`, 'token requests': server.stats.tokenRequests },
  'adopt the stored token (new session, 1 EVAL)': { value: `${(adoptMs / adoptions).toFixed(2)} ms`, 'token requests': server.stats.tokenRequests },
});
await session.close();
client.destroy();
await Promise.all([redis.stop(), server.close()]);
