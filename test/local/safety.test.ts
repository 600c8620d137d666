import { spawn } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, onTestFinished } from 'vitest';
import { clientCredentials, createSession, type Session, type SessionError } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { socketPath } from '../../src/sharing/local/directory.js';
import { type LocalProcess, startProcess, stopProcesses } from '../support/local-fleet.js';
import { bundledScript } from '../support/test-process.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// What localSharing refuses and survives: unsafe directories, other users, stale sockets, hostile or broken lines,
// and the handles it must not hold. Sessions in this process, raw sockets, and real child processes.

let tokens: TokenServer;
let root: string;
let dir: string;
let clientNumber = 0;
const sessions: Session[] = [];
let members: LocalProcess[] = [];
const sockets: Socket[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  root = mkdtempSync(path.join(tmpdir(), 'local-safety-'));
  dir = path.join(root, 'rendezvous');
});

afterAll(async () => {
  await tokens.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => tokens.reset());

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) server.close();
  await Promise.all(sessions.splice(0).map((session) => session.close()));
  await stopProcesses(members);
  members = [];
});

function credentials() {
  const { id, secret } = tokens.addClient(`safety-${++clientNumber}`);
  return { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret };
}

/** A session in this process; `timeout` differs per call so that each one is its own transport (its own context). */
function open(
  creds: ReturnType<typeof credentials>,
  where = dir,
  timeout = 60_000,
  clock?: { now(): number },
): { session: Session; errors: SessionError[] } {
  const session = createSession({ provider: clientCredentials(creds), sharing: localSharing({ dir: where, timeout }), clock });
  const errors: SessionError[] = [];
  session.on('error', (error) => errors.push(error));
  sessions.push(session);
  return { session, errors };
}

function keyOf(creds: ReturnType<typeof credentials>): string {
  return clientCredentials(creds).key;
}

/** A raw connection to a socket, collecting the lines it receives. */
async function raw(socketFile: string): Promise<ReturnType<typeof wrap>> {
  const socket = connect(socketFile);
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return wrap(socket);
}

function wrap(socket: Socket) {
  const lines: Record<string, unknown>[] = [];
  const watchers = new Set<() => void>();
  let buffer = '';
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(buffer.slice(0, newline)) as Record<string, unknown>);
      buffer = buffer.slice(newline + 1);
      for (const watcher of watchers) watcher();
    }
  });
  return {
    socket,
    lines,
    next(test: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such line')), 5_000);
        const check = (): void => {
          const found = lines.find(test);
          if (found === undefined) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        watchers.add(check);
        check();
      });
    },
  };
}

const tick = (ms = 50): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('the directory is created 0700, and the socket is the only file in it', async () => {
  const creds = credentials();
  const { session } = open(creds);
  await session.getToken();
  const stats = lstatSync(dir);
  expect(stats.mode & 0o777).toBe(0o700);
  expect(stats.uid).toBe(process.getuid!());
  const socket = lstatSync(socketPath(dir, keyOf(creds)));
  expect(socket.isSocket()).toBe(true);
  expect(socket.mode & 0o777).toBe(0o600);
  expect(socket.size).toBe(0);
});

it.each([
  ['owned by another user', (target: string) => {
    mkdirSync(target, { mode: 0o700 });
    chownSync(target, 65534, 65534);
  }, 'another user'],
  ['with mode 755', (target: string) => mkdirSync(target, { mode: 0o755 }), 'mode is 755'],
  ['a symlink to a good directory', (target: string) => {
    mkdirSync(`${target}-real`, { mode: 0o700 });
    symlinkSync(`${target}-real`, target);
  }, 'symbolic link'],
])('a directory %s is refused: sharing_degraded, memory', async (name, make, why) => {
  const target = path.join(root, `bad-${name.length}`);
  make(target);
  const creds = credentials();
  const { session, errors } = open(creds, target);
  const token = await session.getToken();
  await tick(10);
  expect(token.accessToken).toMatch(/^at_/);
  expect(errors.map((error) => error.code)).toEqual(['sharing_degraded']);
  expect(errors[0]!.message).toContain(why);
  expect(() => lstatSync(socketPath(target, keyOf(creds)))).toThrow(/ENOENT/);
});

it('on Windows: not supported, sharing_degraded, memory', async () => {
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { value: 'win32' });
  let opened: ReturnType<typeof open>;
  try {
    opened = open(credentials(), path.join(root, 'windows'));
  } finally {
    Object.defineProperty(process, 'platform', platform);
  }
  const { session, errors } = opened;
  expect((await session.getToken()).accessToken).toMatch(/^at_/);
  await tick(10);
  expect(errors.map((error) => error.code)).toEqual(['sharing_degraded']);
  expect(errors[0]!.message).toContain('Windows');
  expect(() => lstatSync(path.join(root, 'windows'))).toThrow(/ENOENT/);
});

it('a socket path too long for the kernel is refused instead of truncated', async () => {
  const { session, errors } = open(credentials(), path.join(root, 'x'.repeat(80)));
  await session.getToken();
  await tick(10);
  expect(errors.map((error) => error.code)).toEqual(['sharing_degraded']);
  expect(errors[0]!.message).toMatch(/longer than \d+ bytes/);
});

it('another user cannot connect (a child running as nobody)', async () => {
  const creds = credentials();
  const { session } = open(creds);
  await session.getToken();
  const file = socketPath(dir, keyOf(creds));
  const script = `require('net').connect(${JSON.stringify(file)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })`;
  const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'], cwd: '/' });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  expect(output.trim()).toBe('EACCES');
});

it('a stale socket file (its leader killed with SIGKILL) is reclaimed', async () => {
  const creds = credentials();
  const leader = await startProcess({ ...creds, dir });
  members.push(leader);
  await leader.request({ cmd: 'getMany', count: 1 });
  const file = socketPath(dir, keyOf(creds));
  const staleInode = lstatSync(file).ino;
  leader.kill('SIGKILL');
  await new Promise((resolve) => leader.child.once('exit', resolve));
  expect(lstatSync(file).ino).toBe(staleInode); // still there, nobody listening
  const { session } = open(creds);
  const token = await session.getToken();
  expect(token.accessToken).toMatch(/^at_/);
  expect(session.isLeader).toBe(true);
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('a directory where the socket should be: this context stops sharing after trying, and says so', async () => {
  const creds = credentials();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(socketPath(dir, keyOf(creds)));
  const { session, errors } = open(creds);
  expect((await session.getToken()).accessToken).toMatch(/^at_/);
  expect(errors.map((error) => error.code)).toEqual(['sharing_degraded']);
  expect(errors[0]!.message).toContain('does not answer');
  rmSync(socketPath(dir, keyOf(creds)), { recursive: true });
});

it('the leader ignores malformed, oversized and other-version lines, and answers the next good one', async () => {
  const creds = credentials();
  const { session, errors } = open(creds);
  const token = await session.getToken();
  const client = await raw(socketPath(dir, keyOf(creds)));
  const state = await client.next((line) => line.type === 'state');
  expect(state).toMatchObject({ v: 2, epoch: 0, token: { accessToken: token.accessToken } });
  expect(state).not.toHaveProperty('refreshToken');
  client.socket.write('not json\n');
  client.socket.write('{"v":1,"type":"request","id":1}\n');
  client.socket.write('{"v":2,"type":"request","id":-1}\n');
  client.socket.write('{"v":2,"type":"token","token":{"accessToken":"x\\ny","tokenType":"Bearer","expiresAt":1,"issuedAt":0}}\n');
  client.socket.write(`{"v":2,"type":"request","id":2,"rejected":"${'x'.repeat(70_000)}"}\n`);
  client.socket.write(`${'y'.repeat(100_000)}`); // oversized, split over chunks
  client.socket.write(`${'y'.repeat(100_000)}\n`);
  client.socket.write('{"v":2,"type":"request","id":7}\n');
  const answer = await client.next((line) => line.type === 'token' && line.id === 7);
  expect(answer).toMatchObject({ v: 2, token: { accessToken: token.accessToken } });
  expect(client.lines.filter((line) => line.id !== undefined)).toHaveLength(1);
  expect(errors.map((error) => error.code)).toEqual(Array(6).fill('invalid_message'));
  expect(tokens.stats.tokenRequests).toBe(1);
});

/** A fake leader on the credential's socket, for what a session does as a client. */
async function fakeLeader(creds: ReturnType<typeof credentials>) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = socketPath(dir, keyOf(creds));
  let resolveConnection: (value: ReturnType<typeof wrap>) => void;
  const connection = new Promise<ReturnType<typeof wrap>>((resolve) => (resolveConnection = resolve));
  const server = createServer((socket) => {
    sockets.push(socket);
    resolveConnection(wrap(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(file, resolve));
  return connection;
}

it('a client ignores bad lines from the leader and takes the good answer; a failure keeps its code and retryAfter', async () => {
  const creds = credentials();
  const pending = fakeLeader(creds);
  const { session, errors } = open(creds);
  const leader = await pending;
  const hello = await leader.next((line) => line.type === 'state');
  expect(hello).toEqual({ v: 2, type: 'state', epoch: 0 });
  const first = session.getToken();
  const request = await leader.next((line) => line.type === 'request');
  const now = Date.now();
  const good = { accessToken: 'at_good', tokenType: 'Bearer', expiresAt: now + 3_600_000, issuedAt: now };
  leader.socket.write('{"v":2,"type":"token"\n');
  leader.socket.write(`${JSON.stringify({ v: 1, type: 'token', token: { ...good, accessToken: 'at_v2' }, id: request.id })}\n`);
  leader.socket.write(`${JSON.stringify({ v: 2, type: 'token', epoch: 0, token: { ...good, accessToken: 'at bad\u0007' }, id: request.id })}\n`);
  leader.socket.write(`${'z'.repeat(70_000)}\n`);
  leader.socket.write(`${JSON.stringify({ v: 2, type: 'token', epoch: 0, token: good, id: request.id })}\n`);
  expect((await first).accessToken).toBe('at_good');
  expect(errors.map((error) => error.code)).toEqual(Array(4).fill('invalid_message'));

  const second = session.getToken({ rejected: 'at_good' }).catch((error: unknown) => error as SessionError);
  const again = await leader.next((line) => line.type === 'request' && line.id !== request.id);
  expect(again).toMatchObject({ rejected: 'at_good' });
  leader.socket.write(`${JSON.stringify({ v: 2, type: 'failed', id: again.id, code: 'rate_limited', retryAfter: 5_000, status: 429 })}\n`);
  const failure = (await second) as SessionError;
  expect(failure).toMatchObject({ name: 'SessionError', code: 'rate_limited', status: 429 });
  expect(failure.retryAfter).toBeGreaterThan(4_000);
});

it('a late message cannot bring a signed-out token back', async () => {
  const creds = credentials();
  const { session } = open(creds);
  const old = await session.getToken();
  const client = await raw(socketPath(dir, keyOf(creds)));
  await client.next((line) => line.type === 'state');
  await session.clear();
  await client.next((line) => line.type === 'clear');
  // What a context that missed the sign-out would say: its state with the old token, and then the old token again.
  client.socket.write(`${JSON.stringify({ v: 2, type: 'state', epoch: 0, token: old })}\n`);
  await tick();
  client.socket.write('{"v":2,"type":"request","id":1}\n');
  const answer = await client.next((line) => line.type === 'token' && line.id === 1);
  expect((answer.token as { accessToken: string }).accessToken).not.toBe(old.accessToken);
  expect((await session.getToken()).accessToken).not.toBe(old.accessToken);
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('a late joiner learns of a sign-out from the leader and never hands out a token from before it', async () => {
  const creds = credentials();
  const { session } = open(creds);
  const old = await session.getToken();
  await session.clear();
  // A new context (its own transport) that holds the old token, as one that was disconnected during the sign-out.
  const client = await raw(socketPath(dir, keyOf(creds)));
  const state = await client.next((line) => line.type === 'state');
  expect(state.epoch).toBe(1); // one sign-out: an epoch counter, not a time
  expect(state).not.toHaveProperty('token');
  const { session: late } = open(creds, dir, 59_000);
  expect((await late.getToken()).accessToken).not.toBe(old.accessToken);
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('a context that joins in the sign-out\'s own millisecond has its first call served, not aborted', async () => {
  // Seen once in CI on an idle machine: the sign-out, the join and the first call all in one millisecond. A manual
  // clock makes that moment exact: the call counts as made after the sign-out, as a token issued then does.
  let now = Date.now();
  const clock = { now: () => now };
  const creds = credentials();
  const { session } = open(creds, dir, 60_000, clock);
  const old = await session.getToken();
  now += 1_000;
  await session.clear();
  const { session: late } = open(creds, dir, 59_000, clock);
  const token = await late.getToken();
  expect(token.accessToken).not.toBe(old.accessToken);
  expect(token.issuedAt).toBe(now);
  expect(tokens.stats.tokenRequests).toBe(2);
});

it('a process whose only handles are the transport exits by itself, as leader and as client', async () => {
  const creds = credentials();
  const run = async (): Promise<{ code: number | null; ms: number; output: { leading: boolean } }> => {
    const started = Date.now();
    const child = spawn(process.execPath, [bundledScript(path.join(import.meta.dirname, 'fixtures/exits.ts'))], {
      env: { ...process.env, LOCAL_EXITS: JSON.stringify({ ...creds, dir }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    // Exiting by itself is the promise, not how fast tsx starts a process: the 10 s it has to exit count from the
    // moment it printed its result (its work is done), so that a loaded machine's slow start cannot fail it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) timer ??= setTimeout(() => child.kill('SIGKILL'), 10_000);
    });
    onTestFinished(() => void child.kill('SIGKILL'));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    return { code, ms: Date.now() - started, output: JSON.parse(output) as { leading: boolean } };
  };
  const alone = await run();
  expect(alone).toMatchObject({ code: 0, output: { leading: true } });
  // Now with a leader that stays: the child connects as a client, gets the token and exits.
  const { session } = open(creds);
  await session.getToken();
  const client = await run();
  expect(client).toMatchObject({ code: 0, output: { leading: false } });
  expect(tokens.stats.tokenRequests).toBe(2);
  // A caller waiting for the leader's answer keeps its process alive (the leader's request takes 500 ms here).
  await session.clear();
  tokens.latency = 500;
  const waiting = await run();
  expect(waiting).toMatchObject({ code: 0, output: { leading: false } });
  expect(waiting.ms).toBeGreaterThan(500);
  expect(tokens.stats.tokenRequests).toBe(3);
});
