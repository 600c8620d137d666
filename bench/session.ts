/**
 * `npm run bench -- session`: the session in Node, each figure next to what an app would do without it, in one run.
 * - cached `getToken` vs awaiting a field of a plain object that holds the token (tinybench, interleaved rounds);
 * - first token of a fresh session vs one plain `fetch` POST to the token endpoint;
 * - concurrent callers at cold start: one token request (single flight) vs each caller fetching its own.
 * Against the real local token server. Prints numbers; asserts nothing.
 */
import { clientCredentials, createSession, memorySharing } from '../src/index.js';
import { startTokenServer } from '../test/support/token-server.js';
import { microPair } from './lib/micro.js';
import { median, report, type Row, smoke } from './lib/pairs.js';

const ROUNDS = smoke ? 2 : 9;
const FIRST_TOKEN_TRIALS = smoke ? 3 : 30;
const CALLERS = smoke ? 50 : 1_000;

const server = await startTokenServer();
const credentials = server.addClient('bench');
const provider = clientCredentials({ tokenUrl: server.tokenUrl, clientId: credentials.id, clientSecret: credentials.secret });
const form = (): URLSearchParams =>
  new URLSearchParams({ grant_type: 'client_credentials', client_id: credentials.id, client_secret: credentials.secret });
/** What an app does without the library: one POST, and the token out of the JSON. */
const plainFetch = async (): Promise<string> => {
  const response = await fetch(server.tokenUrl, { method: 'POST', body: form() });
  return ((await response.json()) as { access_token: string }).access_token;
};
const rows: Row[] = [];

// 1. Cached getToken vs a plain object's field, awaited (getToken is async, so an app awaits either).
{
  const session = createSession({ provider, sharing: memorySharing() });
  const holder = { token: await session.getToken() };
  const BATCH = 1_000;
  let sink = 0;
  const measured = await microPair(
    {
      label: 'await session.getToken()',
      batch: BATCH,
      fn: async () => {
        for (let index = 0; index < BATCH; index++) sink += (await session.getToken()).accessToken.length;
      },
    },
    {
      label: 'await holder.token',
      batch: BATCH,
      fn: async () => {
        for (let index = 0; index < BATCH; index++) sink += (await holder.token).accessToken.length;
      },
    },
  );
  if (sink === 0) throw new Error('unreachable');
  rows.push({
    id: 'cached-get-token',
    figure: 'cached getToken',
    unit: 'ops/s',
    better: 'higher',
    ours: { label: 'await session.getToken()', values: measured.ours },
    baseline: { label: 'await holder.token (plain object)', values: measured.baseline },
    goal: 'report the ratio',
  });
  await session.close();
}

// 2. First token in a fresh session vs one plain fetch; rounds interleave, each round's value is its median trial.
{
  await plainFetch(); // open the keep-alive connection both sides use
  const ours: number[] = [];
  const baseline: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const oursTrials: number[] = [];
    const baselineTrials: number[] = [];
    for (let trial = 0; trial < FIRST_TOKEN_TRIALS; trial++) {
      let started = performance.now();
      const session = createSession({ provider, sharing: memorySharing() });
      await session.getToken();
      oursTrials.push(performance.now() - started);
      await session.close();
      started = performance.now();
      await plainFetch();
      baselineTrials.push(performance.now() - started);
    }
    ours.push(median(oursTrials));
    baseline.push(median(baselineTrials));
  }
  rows.push({
    id: 'first-token-node',
    figure: 'first token in a fresh session (Node)',
    unit: 'ms',
    better: 'lower',
    ours: { label: 'createSession + getToken', values: ours },
    baseline: { label: 'one plain fetch POST', values: baseline },
    goal: '≤ 1.1× + 2 ms',
    met: median(ours) <= 1.1 * median(baseline) + 2,
  });
}

// 3. Concurrent callers at cold start: token requests and time until every caller holds a token.
{
  const oursTime: number[] = [];
  const baselineTime: number[] = [];
  const oursRequests: number[] = [];
  const baselineRequests: number[] = [];
  for (let round = 0; round < Math.min(ROUNDS, 5); round++) {
    server.resetStats();
    let started = performance.now();
    const session = createSession({ provider, sharing: memorySharing() });
    await Promise.all(Array.from({ length: CALLERS }, () => session.getToken()));
    oursTime.push(performance.now() - started);
    oursRequests.push(server.stats.tokenRequests);
    await session.close();
    server.resetStats();
    started = performance.now();
    await Promise.all(Array.from({ length: CALLERS }, plainFetch));
    baselineTime.push(performance.now() - started);
    baselineRequests.push(server.stats.tokenRequests);
  }
  const callers = CALLERS.toLocaleString('en');
  rows.push(
    {
      id: 'cold-start-node-requests',
      figure: `token requests, ${callers} concurrent callers at cold start`,
      unit: 'requests',
      better: 'lower',
      ours: { label: 'one session', values: oursRequests },
      baseline: { label: 'each caller fetches', values: baselineRequests },
      goal: `1 vs ${callers}`,
    },
    {
      id: 'cold-start-node-time',
      figure: `time until ${callers} concurrent callers hold a token`,
      unit: 'ms',
      better: 'lower',
      ours: { label: 'one session', values: oursTime },
      baseline: { label: 'each caller fetches', values: baselineTime },
    },
  );
}

report({ bench: 'session', title: 'shared-session: the session in Node', rows });
await server.close();
