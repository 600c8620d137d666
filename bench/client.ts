/**
 * `npm run bench`: requests/s through `createClient` against plain `ky` with a fixed header, on the local server
 * (goal: ≤ 3 % slower). Rounds alternate between the two so that drift on a busy machine hits both alike; the median
 * round counts. Prints numbers; asserts nothing.
 */
import ky, { type KyInstance } from 'ky';
import { createClient } from '../src/client.js';
import { clientCredentials, createSession, memorySharing } from '../src/index.js';
import { startTokenServer } from '../test/support/token-server.js';

const REQUESTS_PER_ROUND = 4_000;
const CONCURRENCY = 16;
const ROUNDS = 7;

const server = await startTokenServer();
const client = server.addClient('bench-client');
const session = createSession({
  provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }),
  sharing: memorySharing(),
});
const { accessToken } = await session.getToken();

const plain = ky.create({ prefixUrl: server.origin, headers: { authorization: `Bearer ${accessToken}` } });
const withSession = createClient(session, { prefixUrl: server.origin });

/** Requests/s for one round: CONCURRENCY workers, REQUESTS_PER_ROUND requests in all. */
async function round(api: KyInstance): Promise<number> {
  let left = REQUESTS_PER_ROUND;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await api.get('api/echo').text();
    }),
  );
  return REQUESTS_PER_ROUND / ((performance.now() - started) / 1000);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

await round(plain); // warm up sockets and the JIT
await round(withSession);
const results = { plain: [] as number[], createClient: [] as number[] };
for (let index = 0; index < ROUNDS; index++) {
  results.plain.push(await round(plain));
  results.createClient.push(await round(withSession));
}
const plainRate = median(results.plain);
const clientRate = median(results.createClient);

console.log('createClient overhead (Node %s, %d requests × %d rounds, %d in flight)', process.version, REQUESTS_PER_ROUND, ROUNDS, CONCURRENCY);
const spread = (values: number[]): string => `${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))}`;
console.table({
  'plain ky, fixed Authorization header': { 'requests/s (median)': Math.round(plainRate), 'rounds (min–max)': spread(results.plain) },
  'createClient(session)': { 'requests/s (median)': Math.round(clientRate), 'rounds (min–max)': spread(results.createClient) },
});
const overhead = (1 - clientRate / plainRate) * 100;
console.log(
  'createClient overhead: %s %% (goal ≤ 3 %%; negative = faster, i.e. within noise); token requests: %d',
  overhead.toFixed(1),
  server.stats.tokenRequests,
);
await session.close();
await server.close();
