import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type LocalProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { Many } from '../support/local-worker.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule: a refresh token is never sent twice. A localSharing leader that closes its session (gracefully: no crash)
// while its refresh is at the server hands its socket over (`lead`) to a client that holds the old token and the old
// refresh token; the leader's answer never reaches anyone else. The successor's next refresh sends the refresh token
// the server already rotated: a reuse, which reuse-detecting servers answer by revoking the whole family.

let tokens: TokenServer;
let dir: string;
let members: LocalProcess[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'review-close-mid-refresh-')), 'rendezvous');
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

it('a leader closed while its refresh is at the server: the successor never sends the same refresh token', async () => {
  const { id, secret } = tokens.addClient('review-close-mid-refresh');
  const refreshToken = tokens.issueRefreshToken(id);
  tokens.lifetime = 20;
  const config = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, refreshToken, dir, refreshBeforeExpiry: 15_000 };
  const [leader] = await startProcesses(1, config);
  members.push(leader!);
  expect((await leader!.request<Many>({ cmd: 'getMany', count: 1 })).errors).toEqual([]);
  const [follower] = await startProcesses(1, config);
  members.push(follower!);
  expect((await follower!.request<Many>({ cmd: 'getMany', count: 1 })).errors).toEqual([]);
  expect(tokens.stats.tokenRequests).toBe(1);
  // 5 s after the token came, it enters its refresh margin: the leader refreshes it ahead of time (the server
  // answers after 1.5 s), and closes meanwhile.
  tokens.latency = 1_500;
  await expect.poll(() => tokens.stats.tokenRequests, { timeout: 10_000, interval: 5 }).toBe(2);
  await leader!.request({ cmd: 'close' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  tokens.latency = 0;
  const after = await follower!.request<Many>({ cmd: 'getMany', count: 1 });
  // The closed leader's request is still at the server (1.5 s): whichever comes second is the reuse.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  // Before the fix: 1 reuse (the successor sent the refresh token the closed leader's request rotated away).
  expect(tokens.stats.refreshTokenReuse).toBe(0);
  expect(after.errors).toEqual([]);
}, 30_000);

it('a leader closed while its refresh gets no answer within the window: every context is signed out, nothing sent again', async () => {
  const { id, secret } = tokens.addClient('review-close-lost-refresh');
  const refreshToken = tokens.issueRefreshToken(id);
  tokens.lifetime = 20;
  const config = {
    tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, refreshToken, dir: `${dir}-lost`, refreshBeforeExpiry: 15_000,
    attemptTimeout: 500, lateAnswerWindow: 1_500,
  };
  const [leader] = await startProcesses(1, config);
  members.push(leader!);
  expect((await leader!.request<Many>({ cmd: 'getMany', count: 1 })).errors).toEqual([]);
  const [follower] = await startProcesses(1, config);
  members.push(follower!);
  expect((await follower!.request<Many>({ cmd: 'getMany', count: 1 })).errors).toEqual([]);
  // The leader's early refresh is never answered in its window (the server takes 4 s); it closes meanwhile.
  tokens.latency = 4_000;
  await expect.poll(() => tokens.stats.tokenRequests, { timeout: 10_000, interval: 5 }).toBe(2);
  await leader!.request({ cmd: 'close' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await follower!.request<Many>({ cmd: 'getMany', count: 1 });
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  // Before the fix: the sign-out the lost answer calls for was dropped (the leader was closed by then), and the
  // successor sent the maybe-spent refresh token again.
  expect(tokens.stats.tokenRequests).toBe(2);
  expect(tokens.stats.refreshTokenReuse).toBe(0);
  expect(after.errors).toEqual([expect.stringMatching(/^(login_required|invalid_grant)$/)]);
}, 40_000);
