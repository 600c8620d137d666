import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION as v } from '../../src/sharing/cloudflare/protocol.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import { buildExample, bundleWorker, fetchTokenAsHolder, startWorkers } from '../support/workerd.js';

let server: TokenServer;
let client: { id: string; secret: string };
let example: string;
let probe: string;
const running: Miniflare[] = [];

beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('edge-app', 'cf-s3cr3t-never-stored');
  [example, probe] = await Promise.all([buildExample(), bundleWorker('test/workers/fixtures/probe.ts', 'probe')]);
}, 120_000);
afterAll(() => server.close());
afterEach(async () => {
  await Promise.all(running.splice(0).map((mf) => mf.dispose()));
  server.reset();
});

function exampleBindings(): Record<string, string> {
  return { TOKEN_URL: server.tokenUrl, API_ORIGIN: server.origin, CLIENT_ID: client.id, CLIENT_SECRET: client.secret };
}

function probeBindings(extra: Record<string, string> = {}): Record<string, string> {
  return {
    TOKEN_URL: server.tokenUrl,
    API_URL: server.apiUrl,
    CLIENT_ID: client.id,
    CLIENT_SECRET: client.secret,
    REFRESH_TOKEN: 'unused',
    ...extra,
  };
}

async function start(options: Parameters<typeof startWorkers>[0]): Promise<{ mf: Miniflare; names: string[] }> {
  const started = await startWorkers(options);
  running.push(started.mf);
  return started;
}

/** Sends `count` requests, IN_FLIGHT at a time, spread round-robin over the Workers; returns the responses in order. */
async function burst(mf: Miniflare, names: string[], count: number, path: string): Promise<Array<{ status: number; body: string }>> {
  const workers = await Promise.all(names.map((name) => mf.getWorker(name)));
  return concurrently(count, async (index) => {
    const response = await workers[index % workers.length]!.fetch(`http://worker${path}`);
    return { status: response.status, body: await response.text() };
  });
}

/**
 * Requests in flight at once, at most: far more than the isolates' one token request needs to be shared, and few
 * enough that Miniflare's client (one connection per request) is not reset by workerd on a loaded machine (1,000 at
 * once: `ECONNRESET` beside two CPU hogs).
 */
const IN_FLIGHT = 200;

/** `task(0)` … `task(count - 1)`, IN_FLIGHT at a time, results in order. */
async function concurrently<T>(count: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, lane));
  return results;
}

/**
 * Counts how many token requests the server is answering at the same time (wraps the real endpoint), and when each
 * arrived and when its answer went out (epoch ms, in arrival order).
 */
function trackTokenRequests(): { readonly max: number; readonly requests: Array<{ arrived: number; answered: number }> } {
  const state = { now: 0, max: 0, requests: [] as Array<{ arrived: number; answered: number }> };
  server.route((req, res, url) => {
    if (url.pathname !== '/token') return false;
    state.max = Math.max(state.max, ++state.now);
    const request = { arrived: Date.now(), answered: Number.NaN };
    state.requests.push(request);
    res.on('close', () => {
      state.now--;
      request.answered = Date.now();
    });
    return false;
  });
  return state;
}

/** `items` cut into runs of `size` (the last one shorter when they do not divide). */
function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, index * size + size));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [file];
  });
}

describe('the example Worker (examples/cloudflare, built by wrangler) in workerd', () => {
  it('1,000 concurrent requests over 4 isolates → exactly 1 token request, every API call 200', async () => {
    server.latency = 100; // every isolate is asking while the one token request is in flight
    const { mf, names } = await start({ script: example, instances: 4, bindings: exampleBindings() });
    const responses = await burst(mf, names, 1000, '/api/echo');
    expect(responses.filter((response) => response.status !== 200)).toEqual([]);
    expect(server.stats.tokenRequests).toBe(1);
    expect(server.stats.apiCalls).toBe(1000);
    expect(server.stats.apiUnauthorized).toBe(0);
    expect(new Set(responses.map((response) => (JSON.parse(response.body) as { token: string }).token)).size).toBe(1);
  });

  it('a restarted Durable Object serves its stored token: 0 token requests while it is valid; no secret on disk', async () => {
    const persist = mkdtempSync(path.join(tmpdir(), 'shared-session-do-'));
    try {
      const first = await start({ script: example, instances: 2, bindings: exampleBindings(), persist });
      const before = await burst(first.mf, first.names, 20, '/api/echo');
      expect(server.stats.tokenRequests).toBe(1);
      await first.mf.dispose();
      running.splice(running.indexOf(first.mf), 1);

      // New workerd process: new isolates (no in-memory copy) and a new Durable Object instance, same storage.
      const second = await start({ script: example, instances: 3, bindings: exampleBindings(), persist });
      const after = await burst(second.mf, second.names, 300, '/api/echo');
      expect(after.every((response) => response.status === 200)).toBe(true);
      expect(server.stats.tokenRequests).toBe(1);
      const token = (response: { body: string }): string => (JSON.parse(response.body) as { token: string }).token;
      expect(new Set([...before, ...after].map(token)).size).toBe(1);

      const stored = filesUnder(persist).map((file) => readFileSync(file));
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.some((bytes) => bytes.includes(token(before[0]!)))).toBe(true); // the token is there…
      expect(stored.some((bytes) => bytes.includes(client.secret))).toBe(false); // …the secret never is
    } finally {
      rmSync(persist, { recursive: true, force: true });
    }
  });

  it('token endpoint down: every caller gets a typed error, token requests stay one chain at a time', async () => {
    server.failNext(10_000, 503);
    const tokenRequests = trackTokenRequests();
    const { mf, names } = await start({ script: example, instances: 4, bindings: exampleBindings() });
    const began = Date.now();
    const responses = await burst(mf, names, 1000, '/api/echo');
    const duration = Date.now() - began;
    expect(new Set(responses.map((response) => `${response.status} ${response.body}`))).toEqual(
      new Set(['502 {"error":"endpoint_unavailable"}']),
    );
    expect(tokenRequests.max).toBe(1);
    expect(server.stats.apiCalls).toBe(0);
    // A chain is the provider's 4 attempts (backoff 250 ms, jittered to at least half: 125 + 250 + 500 ms between
    // them). A chain that fails leaves its next back-off (250 × 2³, at least half of it: 1 s) for every isolate to wait
    // out; a request that comes after that starts a new chain. How many chains the burst sees is how long it lasts:
    // on a loaded machine the 1,000 requests take several chains' time (16 requests, 4 chains, beside two CPU hogs).
    // A storm (one chain per isolate or per request) starts the next chain as soon as one fails.
    const chains = chunks(tokenRequests.requests, 4);
    expect(chains.map((chain) => chain.length)).toEqual(chains.map(() => 4));
    const gaps = chains.slice(1).map((chain, index) => chain[0]!.arrived - chains[index]!.at(-1)!.answered);
    expect(gaps.filter((gap) => !(gap >= 1_000))).toEqual([]);
    expect(chains.length).toBeLessThanOrEqual(1 + Math.floor(duration / (125 + 250 + 500 + 1_000)));
  });

  it('token endpoint rate limiting (429, Retry-After: 60): 1 token request for 1,000 requests, each a 429 passing Retry-After on', async () => {
    server.failNext(10_000, 429, { retryAfter: '60' });
    const { mf, names } = await start({ script: example, instances: 4, bindings: exampleBindings() });
    const workers = await Promise.all(names.map((name) => mf.getWorker(name)));
    // The server's 60 s are counted from its answer, after `began`: a reply received `s` seconds after `began` passes
    // on at least 60 − s (whole seconds, so one less for rounding), and never more than 60. On a loaded machine the
    // 1,000 replies take tens of seconds (42 s beside two CPU hogs), so a fixed lower bound would fail them.
    const began = Date.now();
    const responses = await concurrently(1000, async (index) => {
      const response = await workers[index % workers.length]!.fetch('http://worker/api/echo');
      const elapsed = (Date.now() - began) / 1000;
      return { status: response.status, retryAfter: Number(response.headers.get('retry-after')), elapsed, body: await response.text() };
    });
    expect(new Set(responses.map((response) => `${response.status} ${response.body}`))).toEqual(new Set(['429 {"error":"rate_limited"}']));
    expect(responses.filter(({ retryAfter, elapsed }) => !(retryAfter >= 60 - Math.ceil(elapsed) - 1 && retryAfter <= 60))).toEqual([]);
    expect(server.stats.tokenRequests).toBe(1);
    expect(server.stats.apiCalls).toBe(0);
  });
});

describe('the default transport in workerd', () => {
  // What only a browser runs: browser sharing (IndexedDB records, BroadcastChannel, Web Locks), the runtime chooser
  // that picks it, idb-keyval, and broadcast-channel's election with `unload`. `#default-sharing` (package.json
  // `imports`) gives workerd memory directly, as the chooser would at run time (workerd has no IndexedDB).
  const browserOnly = [/dist\/sharing\/browser\//, /dist\/sharing\/default\.js$/, /src\/sharing\//, /node_modules\/(idb-keyval|broadcast-channel|unload)\//];

  // Behaviour (one memory per isolate) is the probe's test below; this one proves wrangler picks the workerd branch.
  it('the example Worker as wrangler bundles it holds no browser sharing, only the memory default', () => {
    type Output = { inputs: Record<string, { bytesInOutput: number }> };
    const meta = JSON.parse(readFileSync(path.join(path.dirname(example), 'bundle-meta.json'), 'utf8')) as { outputs: Record<string, Output> };
    // What the bundle holds: esbuild lists every module it read in `inputs`, also those tree-shaking dropped.
    const bundle = meta.outputs[Object.keys(meta.outputs).find((file) => file.endsWith('index.js'))!]!;
    const inputs = Object.entries(bundle.inputs)
      .filter(([, { bytesInOutput }]) => bytesInOutput > 0)
      .map(([input]) => input);
    expect(inputs.filter((input) => browserOnly.some((pattern) => pattern.test(input)))).toEqual([]);
    expect(inputs.some((input) => input.endsWith('dist/sharing/default-memory.js'))).toBe(true);
    expect(inputs.some((input) => input.endsWith('dist/session/create-session.js'))).toBe(true);
  });
});

describe('durableObjectSharing in workerd (test Worker)', () => {
  type Reply = { status: number; token?: string; error?: string; leader?: boolean };
  const parse = (response: { body: string }): Reply => JSON.parse(response.body) as Reply;
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  async function get(mf: Miniflare, name: string, path: string): Promise<Reply> {
    const response = await (await mf.getWorker(name)).fetch(`http://worker${path}`);
    return (await response.json()) as Reply;
  }

  /** Speaks the coordinator's protocol directly, as a dying or late isolate would. */
  async function raw(mf: Miniflare, name: string, message: unknown): Promise<{ status: number; body: unknown }> {
    const worker = await mf.getWorker(name);
    const key = await (await worker.fetch('http://worker/key')).text();
    const body = typeof message === 'string' ? message : JSON.stringify(message);
    const response = await worker.fetch(`http://worker/raw?key=${encodeURIComponent(key)}`, { method: 'POST', body });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  it('the Workers are separate isolates (module state is not shared)', async () => {
    const { mf, names } = await start({ script: probe, instances: 4, bindings: probeBindings() });
    const ids = await Promise.all(names.map(async (name) => (await (await mf.getWorker(name)).fetch('http://worker/isolate')).text()));
    expect(new Set(ids).size).toBe(4);
  });

  it('a token in its refresh margin is refreshed once for every isolate', async () => {
    const { mf, names } = await start({ script: probe, instances: 4, bindings: probeBindings() });
    // The token every isolate finds: fetched from the server and stored as a lease holder would store it, with times
    // that put it inside its refresh margin (min(120 s, lifetime / 2) = 120 s of its hour) for 100 s yet. (Sleeping a
    // 4 s token into its 2 s margin let a slow machine's burst begin after it had expired, or outlast the margin-free
    // life of the refreshed one.) The refreshed token lives an hour: however long the burst runs, it is not in its margin.
    const granted = await raw(mf, names[0]!, { v, type: 'acquire', wait: 0, lease: 30_000 });
    const expiresAt = Date.now() + 100_000;
    const first = { ...(await fetchTokenAsHolder(server, client)), issuedAt: expiresAt - 3_600_000, expiresAt };
    const lease = (granted.body as { lease: string }).lease;
    expect(await raw(mf, names[0]!, { v, type: 'fulfil', lease, token: first, now: Date.now() })).toMatchObject({ body: { stored: true } });
    const replies = (await burst(mf, names, 200, '/shared')).map(parse);
    expect(Date.now()).toBeLessThan(expiresAt); // the whole burst ran while `first` was in its margin, unexpired
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    expect(server.stats.tokenRequests).toBe(2); // `first`, and its one refresh
    expect(new Set(replies.map((reply) => reply.token))).toEqual(new Set([replies[0]!.token]));
    expect(replies[0]!.token).not.toBe(first.accessToken);
  });

  it('a lease holder that dies is replaced once its lease expires; its late token is fenced off', async () => {
    const { mf, names } = await start({ script: probe, instances: 3, bindings: probeBindings() });
    const granted = await raw(mf, names[0]!, { v, type: 'acquire', wait: 0, lease: 1_500 });
    expect(granted).toMatchObject({ status: 200, body: { type: 'lease' } });
    const started = Date.now();
    const replies = (await burst(mf, names, 150, '/shared')).map(parse);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400); // they waited for the lease, they did not fetch
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    expect(server.stats.tokenRequests).toBe(1);

    const now = Date.now();
    const late = { accessToken: 'late', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
    const lease = (granted.body as { lease: string }).lease;
    expect(await raw(mf, names[1]!, { v, type: 'fulfil', lease, token: late })).toEqual({
      status: 200,
      body: { v, type: 'done', stored: false, epoch: 0 },
    });
    expect((await get(mf, names[2]!, '/shared')).token).toBe(replies[0]!.token);
  });

  it('malformed messages get 400 and change nothing', async () => {
    const { mf, names } = await start({ script: probe, instances: 1, bindings: probeBindings() });
    const token = (await get(mf, names[0]!, '/shared')).token;
    for (const message of [
      'not json',
      { v: 1, type: 'clear' }, // the previous version
      { v: v + 1, type: 'clear' },
      { v, type: 'acquire', wait: -1, lease: 1 },
      { v, type: 'acquire', wait: 0, lease: 1e9 },
      { v, type: 'acquire', wait: 0, lease: 1, epoch: -1 },
      { v, type: 'fulfil', lease: 'x', token: { accessToken: '', tokenType: 'Bearer', issuedAt: 0, expiresAt: 1 } },
      { v, type: 'abandon', lease: 'x', failure: { code: 'rate_limited', message: '', retryAfter: 1e12 } },
      { v, type: 'steal' },
    ]) {
      expect(await raw(mf, names[0]!, message)).toEqual({ status: 400, body: undefined });
    }
    expect(await raw(mf, names[0]!, { v, type: 'acquire', wait: 0, lease: 1_000 })).toMatchObject({
      body: { type: 'token', token: { accessToken: token } },
    });
  });

  it('clear() in one isolate deletes the stored token: an isolate without a copy fetches a new one', async () => {
    const { mf, names } = await start({ script: probe, instances: 3, bindings: probeBindings() });
    const before = await get(mf, names[0]!, '/shared');
    expect((await get(mf, names[1]!, '/shared')).token).toBe(before.token);
    expect((await (await mf.getWorker(names[0]!)).fetch('http://worker/clear')).status).toBe(204);
    const after = await get(mf, names[2]!, '/shared');
    expect(after.status).toBe(200);
    expect(after.token).not.toBe(before.token);
    expect(server.stats.tokenRequests).toBe(2);
  });

  it('refresh-token rotation continues across isolates through the coordinator (no reuse)', async () => {
    server.lifetime = 2; // margin 1 s
    const refreshToken = server.issueRefreshToken(client.id);
    const { mf, names } = await start({ script: probe, instances: 3, bindings: probeBindings({ REFRESH_TOKEN: refreshToken }) });
    const tokens: string[] = [];
    for (const name of names) {
      const reply = await get(mf, name, '/rotating');
      expect(reply).toMatchObject({ status: 200 });
      tokens.push(reply.token!);
      await sleep(1_100);
    }
    // Each isolate started from the same (spent) refresh token in env; only the coordinator knew the newest one.
    expect(new Set(tokens).size).toBe(3);
    expect(server.stats.tokenRequests).toBe(3);
    expect(server.stats.refreshTokenReuse).toBe(0);
  });

  for (const [fixture, title] of [
    ['probe', 'the root entry imports and runs in workerd; default sharing there is per-isolate memory'],
    ['probe-with-noop-broadcast-channel', 'a no-op BroadcastChannel global (as vitest-pool-workers injects) changes nothing'],
  ] as const) {
    it(title, async () => {
      const script = fixture === 'probe' ? probe : await bundleWorker(`test/workers/fixtures/${fixture}.ts`, fixture);
      const { mf, names } = await start({ script, instances: 1, bindings: probeBindings() });
      const replies = (await burst(mf, names, 50, '/default')).map(parse);
      expect(replies.every((reply) => reply.status === 200 && reply.leader === true)).toBe(true);
      expect(server.stats.tokenRequests).toBe(1);
    });
  }
});
