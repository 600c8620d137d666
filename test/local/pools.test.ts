import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import type { TileTask } from './fixtures/tile-task.js';

// The scenario localSharing exists for: a pool of threads (piscina) or processes (cluster) downloading tiles in
// parallel, with one token for all of them.

let tokens: TokenServer;
let root: string;
let clientNumber = 0;

beforeAll(async () => {
  tokens = await startTokenServer();
  root = mkdtempSync(path.join(tmpdir(), 'local-pools-'));
});

afterAll(async () => {
  await tokens.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => tokens.reset());

function credentials() {
  const { id, secret } = tokens.addClient(`pools-${++clientNumber}`);
  return { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, dir: path.join(root, 'rendezvous') };
}

it('a piscina pool of 8 threads downloads 200 protected tiles with 1 token request; every tile 200', async () => {
  const pool = new Piscina<TileTask, { status: number; leading: boolean }>({
    filename: path.join(import.meta.dirname, 'fixtures/tile-task.mjs'),
    minThreads: 8,
    maxThreads: 8,
  });
  try {
    const creds = credentials();
    tokens.latency = 100;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        pool.run({ ...creds, tileUrl: `${tokens.origin}/api/tiles/12/${index % 20}/${Math.floor(index / 20)}.png` }),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(Array(200).fill(200));
    expect(tokens.stats.tokenRequests).toBe(1);
    expect(tokens.stats.apiCalls).toBe(200);
    expect(tokens.stats.apiUnauthorized).toBe(0);
    expect(pool.threads.length).toBe(8);
  } finally {
    await pool.destroy();
  }
});

it('cluster with 3 workers: one leader, one token request', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/cluster.ts')], {
    env: { ...process.env, LOCAL_CLUSTER: JSON.stringify(credentials()) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  expect(code).toBe(0);
  const workers = JSON.parse(output) as Array<{ leading: boolean; tokens: string[] }>;
  expect(workers).toHaveLength(3);
  expect(workers.filter((worker) => worker.leading)).toHaveLength(1);
  expect(new Set(workers.flatMap((worker) => worker.tokens)).size).toBe(1);
  expect(tokens.stats.tokenRequests).toBe(1);
});
