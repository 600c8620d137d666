import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type LocalProcess, leaderOf, startProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { LocalConfig, Many } from '../support/local-worker.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// Real Node processes (and worker_threads inside one of them) on one machine, sharing one session per credential
// through localSharing's Unix domain socket, against the real token server.

let tokens: TokenServer;
let dir: string;
let members: LocalProcess[] = [];
let clientNumber = 0;

beforeAll(async () => {
  tokens = await startTokenServer();
  // A directory of our own per run, so that parallel runs never meet: created 0700 by the transport.
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'local-fleet-')), 'rendezvous');
});

afterAll(async () => {
  await tokens.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

beforeEach(() => tokens.reset());

afterEach(async () => {
  await stopProcesses(members);
  members = [];
});

/** A new client per test, so that tests never share a credential key (and so a socket). */
function config(extra: Partial<LocalConfig> = {}): LocalConfig {
  const { id, secret } = tokens.addClient(`local-${++clientNumber}`);
  return { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, dir, ...extra };
}

it('4 processes × 250 concurrent getToken + 4 worker_threads of one of them → 1 token request', async () => {
  const base = config();
  members = await startProcesses(4, base);
  tokens.latency = 200;
  const [results, threads] = await Promise.all([
    Promise.all(members.map((member) => member.request<Many>({ cmd: 'getMany', count: 250 }))),
    members[0]!.request<Many>({ cmd: 'threads', threads: 4, count: 250 }),
  ]);
  const all = [...results.flatMap((result) => result.tokens), ...threads.tokens];
  expect([...results.flatMap((result) => result.errors), ...threads.errors]).toEqual([]);
  expect(all).toHaveLength(2000);
  expect(new Set(all).size).toBe(1);
  expect(tokens.stats.tokenRequests).toBe(1);
  expect(await leaderOf(members)).toHaveLength(1);
});
