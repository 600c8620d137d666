import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule (docs/node-processes.md, leader-close-hand-over): a closing leader never leaves the socket path empty while
// a live context holds its token. A cascade of closes: the leader closes and hands its socket to a client, which
// closes in turn right after it took over (a pool whose processes finish together) — before the old leader's other
// clients, which hold the token too, noticed the change and reconnected to it.

let tokens: TokenServer;
let root: string;
let clientNumber = 0;

beforeAll(async () => {
  tokens = await startTokenServer();
  root = mkdtempSync(path.join(tmpdir(), 'review-successor-closes-'));
});

afterAll(async () => {
  await tokens.close();
  rmSync(root, { recursive: true, force: true });
});

function credential(): { id: string; dir: string; open: (timeout: number) => Session } {
  const { id, secret } = tokens.addClient(`review-successor-closes-${++clientNumber}`);
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret });
  const dir = path.join(root, `rendezvous-${clientNumber}`);
  return { id, dir, open: (timeout) => createSession({ provider, sharing: localSharing({ dir, timeout }) }) };
}

const hasSocket = (dir: string): boolean => readdirSync(dir).some((name) => name.endsWith('.sock'));

// Whether the old leader noticed the take-over (it checks every 5 ms) before the successor closed depends on timer
// phases: each round is one more chance for the interleaving; every round must hold.
it.each([1, 2, 3, 4, 5])('the successor closes as soon as it took over: a client that holds the token leads next, and a context starting then gets the token, 1 token request (round %i)', async () => {
  const { id, dir, open } = credential();
  const leader = open(60_000);
  const successor = open(59_000);
  const holder = open(58_000);
  const sessions = [leader, successor, holder];
  try {
    const first = await leader.getToken();
    expect((await successor.getToken()).accessToken).toBe(first.accessToken);
    expect((await holder.getToken()).accessToken).toBe(first.accessToken);

    const closing = leader.close();
    // The successor (first client) closes as soon as it leads.
    const deadline = performance.now() + 5_000;
    while (!successor.isLeader && performance.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(successor.isLeader).toBe(true);
    await successor.close();
    // The holder still holds the token: the path is not left empty for a context without it.
    expect(hasSocket(dir)).toBe(true);
    const late = open(57_000);
    sessions.push(late);
    expect((await late.getToken()).accessToken).toBe(first.accessToken);
    await closing;
    expect(tokens.stats.issuedByClient[id]).toBe(1);
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
  }
}, 20_000);
