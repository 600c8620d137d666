/**
 * `npm run bench -- workers`: what `durableObjectSharing` costs a Worker request, in real workerd (Miniflare), next to
 * `memorySharing` in the same isolate (the runtime's default there):
 * - when the isolate holds the token in memory (the common case: every request after an isolate's first);
 * - when the isolate asks the coordinator (a session new to the isolate: one round trip to the Durable Object, which
 *   answers with its stored token).
 * Each request gets a token only (no API call), through the probe Worker of the workers tests. Rounds alternate the
 * sides; the figure per round is the median over its requests. Prints numbers; asserts nothing.
 */
import { bundleWorker, startWorkers } from '../test/support/workerd.js';
import { startTokenServer } from '../test/support/token-server.js';
import { describeMachine } from './lib/machine.js';
import { median, report, type Row, smoke } from './lib/pairs.js';

const ROUNDS = smoke ? 2 : 9;
const REQUESTS = smoke ? 5 : 200;

const server = await startTokenServer();
const client = server.addClient('bench-workers', 'bench-workers-secret');
const script = await bundleWorker('test/workers/fixtures/probe.ts', 'probe-bench');
const { mf, names } = await startWorkers({
  script,
  instances: 1,
  bindings: { TOKEN_URL: server.tokenUrl, API_URL: server.apiUrl, CLIENT_ID: client.id, CLIENT_SECRET: client.secret, REFRESH_TOKEN: 'unused' },
});
const worker = await mf.getWorker(names[0]!);

/** Median ms per request of `route`, over `REQUESTS` sequential requests. */
async function perRequest(route: string): Promise<number> {
  const times: number[] = [];
  for (let index = 0; index < REQUESTS; index++) {
    const started = performance.now();
    const reply = (await (await worker.fetch(`http://worker${route}`)).json()) as { status: number; error?: string };
    times.push(performance.now() - started);
    if (reply.status !== 200) throw new Error(`${route}: ${reply.error ?? reply.status}`);
  }
  return median(times);
}

const routes = { held: '/shared?noapi', asked: '/shared?noapi&fresh', memory: '/default?noapi' };
for (const route of Object.values(routes)) await perRequest(route); // warm up: JIT, the stored token, the isolate's
const sides: Record<keyof typeof routes, number[]> = { held: [], asked: [], memory: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = (round % 2 === 0 ? ['held', 'asked', 'memory'] : ['memory', 'asked', 'held']) as Array<keyof typeof routes>;
  for (const side of order) sides[side].push(await perRequest(routes[side]));
}
const requests = server.stats.tokenRequests;
await mf.dispose();
await server.close();

const baseline = { label: 'memorySharing, token in the isolate', values: sides.memory };
const rows: Row[] = [
  {
    id: 'workers-held',
    figure: 'a Worker request’s getToken, token held in the isolate',
    unit: 'ms',
    better: 'lower',
    ours: { label: 'durableObjectSharing, token in the isolate', values: sides.held },
    baseline,
    goal: 'report the ratio',
  },
  {
    id: 'workers-asked',
    figure: 'a Worker request’s getToken, asking the coordinator',
    unit: 'ms',
    better: 'lower',
    ours: { label: 'durableObjectSharing, a session new to the isolate (one Durable Object round trip)', values: sides.asked },
    baseline,
    goal: 'report the ratio',
  },
];
report({
  bench: 'workers',
  title: 'Cloudflare Workers (workerd via Miniflare): durableObjectSharing vs memorySharing per request',
  machine: describeMachine(),
  rows,
  notes: [`${requests} token requests in all (one per side at warm-up: the coordinator's and the memory session's)`],
});
