import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule (docs/node-processes.md, leader-close-hand-over): a closing leader never leaves the socket path empty while
// a live context holds its token. The client it asks first to take over does not answer: its process is busy with
// CPU work (a pool worker), stopped, or a local process that never reads. Before: the leader waited for it for the
// whole answer timeout (2 s), never asked the client behind it, and deleted the path; a context starting then led
// without the token and requested a second one (3 rounds of 3).

let tokens: TokenServer;
let root: string;
let clientNumber = 0;

beforeAll(async () => {
  tokens = await startTokenServer();
  root = mkdtempSync(path.join(tmpdir(), 'review-silent-successor-'));
});

afterAll(async () => {
  await tokens.close();
  rmSync(root, { recursive: true, force: true });
});

function credential(): { id: string; dir: string; open: (timeout: number) => Session } {
  const { id, secret } = tokens.addClient(`review-silent-successor-${++clientNumber}`);
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret });
  const dir = path.join(root, `rendezvous-${clientNumber}`);
  return { id, dir, open: (timeout) => createSession({ provider, sharing: localSharing({ dir, timeout }) }) };
}

const socketIn = (dir: string): string => path.join(dir, readdirSync(dir).find((name) => name.endsWith('.sock'))!);

it.each([1, 2, 3])('the client asked first never answers: the next client takes over well within the answer timeout, 1 token request (round %i)', async () => {
  const { id, dir, open } = credential();
  const leader = open(60_000);
  const sessions = [leader];
  let silent: Socket | undefined;
  try {
    const first = await leader.getToken();
    // First in line: connected, then reads nothing more and says nothing (a process that does not run).
    silent = connect({ path: socketIn(dir) });
    await new Promise((resolve) => silent!.once('data', resolve));
    silent.pause();
    const holder = open(59_000);
    sessions.push(holder);
    expect((await holder.getToken()).accessToken).toBe(first.accessToken);

    const started = performance.now();
    await leader.close();
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(holder.isLeader).toBe(true);
    expect(existsSync(socketIn(dir))).toBe(true);
    const late = open(58_000);
    sessions.push(late);
    expect((await late.getToken()).accessToken).toBe(first.accessToken);
    expect(tokens.stats.issuedByClient[id]).toBe(1);
  } finally {
    silent?.destroy();
    await Promise.all(sessions.map((session) => session.close()));
  }
}, 20_000);
