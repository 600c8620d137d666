import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type LocalProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { Many } from '../support/local-worker.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule: one token request per credential per token lifetime, whatever the number of contexts. A localSharing
// leader of client credentials (no refresh token) closes while its early refresh is at the server: it hands its
// socket and the old token to a client at once, and the answer it then gets is passed on to nobody. The successor,
// whose token is in its refresh margin too, requests another: 3 requests where 2 do. (The session aborts a
// non-rotating provider's request before the transport closes, SessionCore.release, so the transport cannot wait for
// it as it does for a rotation.)

let tokens: TokenServer;
let dir: string;
let members: LocalProcess[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'review-close-mid-request-')), 'rendezvous');
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

it('a leader closed while its early refresh is at the server: the successor gets that answer, 2 token requests in all', async () => {
  const { id, secret } = tokens.addClient('review-close-mid-request');
  tokens.lifetime = 20;
  const config = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, dir, refreshBeforeExpiry: 15_000 };
  const [leader] = await startProcesses(1, config);
  members.push(leader!);
  expect((await leader!.request<Many>({ cmd: 'getMany', count: 1 })).errors).toEqual([]);
  const [follower] = await startProcesses(1, config);
  members.push(follower!);
  expect((await follower!.request<Many>({ cmd: 'getMany', count: 1 })).errors).toEqual([]);
  expect(tokens.stats.tokenRequests).toBe(1);
  // 5 s after the token came, the leader refreshes it ahead of time (the server answers after 1.5 s), and closes.
  tokens.latency = 1_500;
  await expect.poll(() => tokens.stats.tokenRequests, { timeout: 10_000, interval: 5 }).toBe(2);
  await leader!.request({ cmd: 'close' });
  const after = await follower!.request<Many>({ cmd: 'getMany', count: 1 });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(after.errors).toEqual([]);
  expect(tokens.stats.tokenRequests).toBe(2);
}, 30_000);
