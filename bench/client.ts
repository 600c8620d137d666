/**
 * `npm run bench -- client`: requests/s through `createClient` next to plain `ky` with a fixed Authorization header,
 * on the local server (goal ≥ 0.97×). tinybench, interleaved rounds; one task call = CONCURRENCY requests in flight.
 * Prints numbers; asserts nothing.
 */
import ky, { type KyInstance } from 'ky';
import { createClient } from '../src/client.js';
import { clientCredentials, createSession, memorySharing } from '../src/index.js';
import { startTokenServer } from '../test/support/token-server.js';
import { microPair } from './lib/micro.js';
import { medianRatio, report } from './lib/pairs.js';

const CONCURRENCY = 16;

const server = await startTokenServer();
const client = server.addClient('bench-client');
const session = createSession({
  provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }),
  sharing: memorySharing(),
});
const { accessToken } = await session.getToken();

const plain = ky.create({ prefixUrl: server.origin, headers: { authorization: `Bearer ${accessToken}` } });
const withSession = createClient(session, { prefixUrl: server.origin });
const burst = (api: KyInstance) => () => Promise.all(Array.from({ length: CONCURRENCY }, () => api.get('api/echo').text()));

const measured = await microPair(
  { label: 'createClient(session)', fn: burst(withSession), batch: CONCURRENCY },
  { label: 'plain ky, fixed header', fn: burst(plain), batch: CONCURRENCY },
  { rounds: 9, time: 1_000 },
);
report({
  bench: 'client',
  title: 'shared-session: createClient vs plain ky',
  rows: [
    {
      id: 'create-client',
      figure: `createClient requests/s (${CONCURRENCY} in flight, local server)`,
      unit: 'requests/s',
      better: 'higher',
      ours: { label: 'createClient(session)', values: measured.ours },
      baseline: { label: 'plain ky, fixed Authorization header', values: measured.baseline },
      goal: '≥ 0.97×',
      met: medianRatio(measured.ours, measured.baseline) >= 0.97,
    },
  ],
  notes: [`token requests during the run: ${server.stats.tokenRequests}`],
});
await session.close();
await server.close();
