import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serveTiles } from '../support/tiles.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let server: TokenServer;
let dir: string;

beforeAll(async () => {
  server = await startTokenServer();
  dir = mkdtempSync(path.join(tmpdir(), 'ss-example-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// examples/node-process-pool as its README runs it (tsx, the built package through its `exports`): 8 processes share
// one token for 64 tiles.
it('examples/node-process-pool: 8 processes download 64 tiles with 1 token request', async () => {
  const client = server.addClient('example-pool');
  const tiles = serveTiles(server);
  const { stdout } = await run(path.join(root, 'node_modules/.bin/tsx'), ['examples/node-process-pool/main.ts'], {
    cwd: root,
    timeout: 150_000, // 8 processes that each start tsx: seconds on an idle machine, minutes on a loaded one; time is not the promise here
    env: {
      ...process.env,
      TOKEN_URL: server.tokenUrl,
      CLIENT_ID: client.id,
      CLIENT_SECRET: client.secret,
      TILES_URL: `${server.origin}/tiles/`,
      // A rendezvous directory of this test's own, so that no other test's processes meet these.
      XDG_RUNTIME_DIR: dir,
    },
  });
  expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ processes: 8, tiles: 64 });
  expect(tiles.served).toBe(64);
  expect(tiles.unauthorized).toBe(0);
  expect(server.stats.issuedByClient[client.id]).toBe(1);
}, 180_000);
