import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { type LocalProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { Many } from '../support/local-worker.js';
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

let members: LocalProcess[] = [];

afterEach(async () => {
  await stopProcesses(members);
  members = [];
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

it('real processes: the client asked first is stopped (SIGSTOP); the next takes over and a process starting then gets the token, 1 token request', async () => {
  const { id, secret } = tokens.addClient(`review-silent-successor-${++clientNumber}`);
  const dir = path.join(root, `rendezvous-${clientNumber}`);
  const config = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, dir };
  const getOne = async (member: LocalProcess): Promise<Many> => member.request<Many>({ cmd: 'getMany', count: 1 });
  // One after the other, so that the leader's clients are in this order.
  for (let index = 0; index < 3; index++) {
    const [member] = await startProcesses(1, config);
    members.push(member!);
    expect((await getOne(member!)).errors).toEqual([]);
  }
  const [leader, stopped] = members;
  stopped!.kill('SIGSTOP');
  const started = performance.now();
  await leader!.request({ cmd: 'close' });
  // Before: 2 s (the answer timeout) waiting for the stopped one, then the path left empty.
  expect(performance.now() - started).toBeLessThan(1_500);
  // Started right after the leader closed: the holder (third) leads by now, with the token.
  const [late] = await startProcesses(1, config);
  members.push(late!);
  expect((await getOne(late!)).errors).toEqual([]);
  expect(tokens.stats.issuedByClient[id]).toBe(1);
}, 40_000);
