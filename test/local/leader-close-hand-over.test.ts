import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// One token request per credential per token lifetime, while any context holds the token. Seen in CI (a loaded
// machine): examples/node-process-pool made 2 token requests for 8 processes. The first process led, downloaded its
// tiles and closed its session while 6 others held its token as clients; closing, it deleted its socket at once, and
// a process that started at that moment found the path empty, led, and requested a second token before the clients
// (still noticing the closed connection) came back with theirs. Here the same interleaving, made deterministic in one
// process: three contexts (three transports: `timeout` differs), the third created right as the leader closes.

let tokens: TokenServer;
let dir: string;

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'hand-over-')), 'rendezvous');
});

afterAll(async () => {
  await tokens.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

it('a leader closes while a client holds its token: a context starting at that moment gets that token, 1 token request', async () => {
  const { id, secret } = tokens.addClient('hand-over');
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret });
  const open = (timeout: number): Session => createSession({ provider, sharing: localSharing({ dir, timeout }) });
  const leader = open(60_000);
  const client = open(59_000);
  const sessions = [leader, client];
  try {
    const first = await leader.getToken();
    expect(await client.getToken()).toEqual(first);
    expect([leader.isLeader, client.isLeader]).toEqual([true, false]);

    const closing = leader.close();
    const late = open(58_000); // starts while the leader closes, before the client noticed
    sessions.push(late);
    expect((await late.getToken()).accessToken).toBe(first.accessToken);
    await closing;
    expect((await client.getToken()).accessToken).toBe(first.accessToken);
    expect(tokens.stats.issuedByClient[id]).toBe(1);
    // Exactly one of the two that are left leads.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([client.isLeader, late.isLeader].filter(Boolean)).toHaveLength(1);
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
  }
}, 20_000);
