import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

/**
 * Real Deno without Web Locks (hidden before the package loads), running the packed package (set up as
 * test/deno/deno.test.ts does): the package's election by messages (src/sharing/browser/lock-election.ts) stands in
 * for the Web Lock, on the same channel. Fixtures: test/deno/message-election/.
 */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let app = '';
const deno = DENO;

let server: TokenServer;
let config: { tokenUrl: string; clientId: string; clientSecret: string };

beforeAll(async () => {
  server = await startTokenServer();
  const client = server.addClient('deno-nolocks', 'deno-nolocks-secret');
  config = { tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret };
  app = await denoApp('deno-message-election-app', path.join(import.meta.dirname, 'message-election'));
}, 120_000);
afterAll(async () => {
  await server?.close();
});

/** Runs one scenario of main.ts; returns its RESULT and when the process ended (this machine's clock). */
async function scenario<T>(name: string): Promise<{ result: T; exitedAt: number }> {
  server.reset();
  const child = await run(
    deno,
    ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'main.ts', name, JSON.stringify(config)],
    { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  );
  const exitedAt = Date.now();
  const line = child.stdout.split('\n').find((each) => each.startsWith('RESULT '));
  if (line === undefined) throw new Error(`no RESULT from ${name}:\n${child.stdout}\n${child.stderr}`);
  return { result: JSON.parse(line.slice('RESULT '.length)) as T, exitedAt };
}

it('Deno without Web Locks: the documented fallback (election by messages) — one leader, one token request, no wait', async () => {
  const { result } = await scenario<{
    mainMs: number;
    mainToken: string;
    mainLeader: boolean;
    workers: Array<{ token: string; ms: number; leader: boolean }>;
    errors: string[];
  }>('election');
  console.warn(JSON.stringify({ ...result, tokenRequests: server.stats.tokenRequests }));
  // browser.ts says: 'No Web Locks: election by messages, requests unlocked'. In Deno the election is lock-election.ts.
  expect({
    leaders: [result.mainLeader, ...result.workers.map((worker) => worker.leader)].filter(Boolean).length,
    tokenRequests: server.stats.tokenRequests,
    distinctTokens: new Set([result.mainToken, ...result.workers.map((worker) => worker.token)]).size,
    firstCallWaitedForNobody: result.mainMs < 1000,
  }).toEqual({ leaders: 1, tokenRequests: 1, distinctTokens: 1, firstCallWaitedForNobody: true });
  // The missing Web Locks are reported once; nothing else goes wrong.
  expect(result.errors).toEqual([expect.stringMatching(/^sharing_degraded: No Web Locks/)]);
});

it('a leader that ends without a word (terminated worker) is replaced within one fallback round, without a new login', async () => {
  const { result } = await scenario<{
    leaderWorker: { token: string; leader: boolean };
    leaderBefore: boolean;
    followed: string;
    after: string;
    takeoverMs: number;
  }>('takeover');
  console.warn(JSON.stringify({ ...result, tokenRequests: server.stats.tokenRequests }));
  expect(result.leaderWorker.leader).toBe(true);
  expect(result.leaderBefore).toBe(false);
  expect(result.followed).toBe(result.leaderWorker.token);
  expect(result.after).toBe(result.followed);
  // At most fallbackInterval (3 s) and a background round of 2 × 4 × responseTime (150 ms): 4.2 s, plus load.
  expect(result.takeoverMs).toBeLessThan(6_000);
  expect(server.stats.tokenRequests).toBe(1);
});

it('a script that closes its session exits at once: the election leaves no timer behind', async () => {
  const { result, exitedAt } = await scenario<{ token: string; leader: boolean; closedAt: number }>('exit');
  expect(result.token).not.toBe('');
  expect(result.leader).toBe(false); // closed
  // broadcast-channel's message election keeps a 3 s fallback timer running after die().
  expect(exitedAt - result.closedAt).toBeLessThan(1_000);
  expect(server.stats.tokenRequests).toBe(1);
});
