/**
 * `npm run bench`: cached getToken throughput in Node (goal ≥ 1 M ops/s) and the cold-start single flight.
 * Runs against the real local token server. Prints numbers; asserts nothing.
 */
import { clientCredentials, createSession, memorySharing } from '../src/index.js';
import { startTokenServer } from '../test/support/token-server.js';

const server = await startTokenServer();
const client = server.addClient('bench');
const session = createSession({
  provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }),
  sharing: memorySharing(),
});

// Cold start: 10,000 concurrent callers.
const coldStarted = performance.now();
await Promise.all(Array.from({ length: 10_000 }, () => session.getToken()));
const coldMs = performance.now() - coldStarted;

// Cached reads: sequential awaits, the way an app's request hooks call it.
const iterations = 2_000_000;
for (let index = 0; index < 100_000; index++) await session.getToken(); // warm up the JIT
const started = performance.now();
for (let index = 0; index < iterations; index++) await session.getToken();
const seconds = (performance.now() - started) / 1000;

console.log('shared-session bench (Node %s)', process.version);
console.table({
  'cold start, 10,000 concurrent getToken': { value: `${coldMs.toFixed(1)} ms`, 'token requests': server.stats.tokenRequests },
  'cached getToken': { value: `${Math.round(iterations / seconds).toLocaleString('en')} ops/s`, 'token requests': server.stats.tokenRequests },
});
await session.close();
await server.close();
