import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import { buildExample, bundleWorker, startWorkers } from '../support/workerd.js';

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

/** Sends `count` requests at once, spread round-robin over the Workers; returns the responses in order. */
async function burst(mf: Miniflare, names: string[], count: number, path: string): Promise<Array<{ status: number; body: string }>> {
  const workers = await Promise.all(names.map((name) => mf.getWorker(name)));
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const response = await workers[index % workers.length]!.fetch(`http://worker${path}`);
      return { status: response.status, body: await response.text() };
    }),
  );
}

/** Counts how many token requests the server is answering at the same time (wraps the real endpoint). */
function trackConcurrency(): { readonly max: number } {
  const state = { now: 0, max: 0 };
  server.route((req, res, url) => {
    if (url.pathname !== '/token') return false;
    state.max = Math.max(state.max, ++state.now);
    res.on('close', () => state.now--);
    return false;
  });
  return state;
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
    const concurrency = trackConcurrency();
    const { mf, names } = await start({ script: example, instances: 4, bindings: exampleBindings() });
    const responses = await burst(mf, names, 1000, '/api/echo');
    expect(new Set(responses.map((response) => `${response.status} ${response.body}`))).toEqual(
      new Set(['502 {"error":"endpoint_unavailable"}']),
    );
    expect(concurrency.max).toBe(1);
    // One provider chain is 4 attempts. A storm would be one chain per isolate or per request (4,000).
    expect(server.stats.tokenRequests).toBeLessThanOrEqual(8);
    expect(server.stats.apiCalls).toBe(0);
  });
});
