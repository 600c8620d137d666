import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { leaderOf, type LocalProcess, startProcesses, stopProcesses } from '../test/support/local-fleet.js';
import type { Many } from '../test/support/local-worker.js';
import { startTokenServer, type TokenServer } from '../test/support/token-server.js';

// Promise (README, Reliability): "a sign-out reaches every context and nothing issued before it is handed out
// anywhere, ever"; issue 24: a silent leader is bounded like a dead one (answerTimeout, 2 s). In localSharing a
// sign-out travels through the leader. With the leader stopped (SIGSTOP) or busy with CPU work, a follower's
// `clear()` sits in the stopped leader's socket buffer; the follower that signed out takes over when it next needs a
// token, but a third process that holds a valid token never asks anyone and keeps handing out the signed-out token
// for as long as the leader stays silent (up to its refresh point: most of a token lifetime).

let tokens: TokenServer;
let dir: string;
let members: LocalProcess[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'review-so-')), 'rendezvous');
});

afterAll(async () => {
  await tokens.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

beforeEach(() => tokens.reset());

afterEach(async () => {
  for (const member of members) if (member.alive) member.kill('SIGCONT');
  await stopProcesses(members);
  members = [];
});

it('a sign-out while the leader is stopped reaches every other process within a bound (not when the leader wakes)', async () => {
  const { id, secret } = tokens.addClient('review-so');
  members = await startProcesses(3, { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, dir });
  const first = await members[0]!.request<Many>({ cmd: 'getMany', count: 1 });
  for (const member of members.slice(1)) await member.request<Many>({ cmd: 'getMany', count: 1 });
  const [leader] = await leaderOf(members);
  const [signingOut, bystander] = members.filter((member) => member !== leader);
  const before = first.tokens[0]!;
  leader!.kill('SIGSTOP');
  await signingOut!.request({ cmd: 'clear' });
  // The one that signed out needs a token: it replaces the silent leader (≈ answerTimeout).
  const fresh = await signingOut!.request<Many>({ cmd: 'getMany', count: 1 });
  expect(fresh.tokens[0]).not.toBe(before);
  // Ten answer timeouts later, the bystander still hands out the token the sign-out ended.
  await new Promise((resolve) => setTimeout(resolve, 8_000));
  const late = await bystander!.request<Many>({ cmd: 'getMany', count: 1 });
  expect(late.tokens).not.toContain(before);
}, 60_000);
