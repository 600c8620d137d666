/**
 * `npm run bench -- local`: `localSharing` across real Node processes on one machine, against the real token
 * server. Cold start of 8 processes (token requests, time to token), takeover after SIGKILL of the leader (median,
 * max), and the same 8 processes with memory sharing (token requests) side by side. Prints numbers; asserts nothing.
 *
 * The script forks itself: with `LOCAL_BENCH_CHILD` set it is one of the processes, driven over IPC.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientCredentials, createSession, memorySharing } from '../src/index.js';
import { localSharing } from '../src/node.js';
import { socketPath } from '../src/sharing/local/directory.js';
import { startTokenServer } from '../test/support/token-server.js';

interface ChildConfig {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly dir: string;
  readonly sharing: 'local' | 'memory';
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'token'; at: number; leading: boolean }
  | { type: 'leader'; at: number; leading: boolean };

if (process.env.LOCAL_BENCH_CHILD !== undefined) {
  const config = JSON.parse(process.env.LOCAL_BENCH_CHILD) as ChildConfig;
  const { tokenUrl, clientId, clientSecret, dir } = config;
  const session = createSession({
    provider: clientCredentials({ tokenUrl, clientId, clientSecret }),
    sharing: config.sharing === 'local' ? localSharing({ dir }) : memorySharing(),
  });
  const send = (message: ChildMessage): void => {
    if (process.connected) process.send?.(message);
  };
  session.on('leader', (leading) => send({ type: 'leader', at: performance.timeOrigin + performance.now(), leading }));
  process.on('message', (message: { cmd: 'go' | 'exit' }) => {
    if (message.cmd === 'exit') process.exit(0);
    void session.getToken().then(() => send({ type: 'token', at: performance.timeOrigin + performance.now(), leading: session.isLeader }));
  });
  send({ type: 'ready' });
}

interface Child {
  readonly process: ChildProcess;
  readonly messages: ChildMessage[];
  next(type: ChildMessage['type'], since?: number): Promise<ChildMessage>;
  nextLeading(since: number): Promise<ChildMessage>;
}

/** Whether the last leadership message of `child` said it leads. */
function leads(child: Child): boolean {
  const last = child.messages.filter((message) => message.type === 'leader').at(-1);
  return last?.type === 'leader' && last.leading;
}

function spawnChild(config: ChildConfig): Promise<Child> {
  const child = fork(process.argv[1]!, { env: { ...process.env, LOCAL_BENCH_CHILD: JSON.stringify(config) }, stdio: 'inherit' });
  const messages: ChildMessage[] = [];
  const watchers = new Set<() => void>();
  child.on('message', (message: ChildMessage) => {
    messages.push(message);
    for (const watcher of watchers) watcher();
  });
  const handle: Child = {
    process: child,
    messages,
    nextLeading(since) {
      return new Promise((resolve) => {
        const check = (): void => {
          const found = messages.slice(since).find((message) => message.type === 'leader' && message.leading);
          if (found === undefined) return;
          watchers.delete(check);
          resolve(found);
        };
        watchers.add(check);
        check();
      });
    },
    next(type, since = 0) {
      return new Promise((resolve) => {
        const check = (): void => {
          const found = messages.slice(since).find((message) => message.type === type);
          if (found === undefined) return;
          watchers.delete(check);
          resolve(found);
        };
        watchers.add(check);
        check();
      });
    },
  };
  return handle.next('ready').then(() => handle);
}

function stop(children: readonly Child[]): Promise<unknown> {
  return Promise.all(
    children.map((child) => {
      if (child.process.exitCode !== null || child.process.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.process.once('exit', resolve));
      child.process.send({ cmd: 'exit' });
      return exited;
    }),
  );
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const ms = (value: number): string => `${value.toFixed(1)} ms`;

async function main(): Promise<void> {
  const server = await startTokenServer();
  const root = mkdtempSync(path.join(tmpdir(), 'bench-local-'));
  const dir = path.join(root, 'rendezvous');
  const PROCESSES = 8;
  let clients = 0;
  const configFor = (sharing: ChildConfig['sharing']): ChildConfig => {
    const { id, secret } = server.addClient(`bench-${++clients}`);
    return { tokenUrl: server.tokenUrl, clientId: id, clientSecret: secret, dir, sharing };
  };
  const results: Record<string, Record<string, string | number>> = {};

  // 1. Cold start: 8 processes started, then told to get a token at the same moment.
  for (const sharing of ['local', 'memory'] as const) {
    const config = configFor(sharing);
    const children = await Promise.all(Array.from({ length: PROCESSES }, () => spawnChild(config)));
    // Let every process finish its election (connect or lead) before the clock starts.
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.resetStats();
    const go = performance.timeOrigin + performance.now();
    for (const child of children) child.process.send({ cmd: 'go' });
    const answers = (await Promise.all(children.map((child) => child.next('token')))) as Array<Extract<ChildMessage, { type: 'token' }>>;
    const times = answers.map((answer) => answer.at - go);
    results[`cold start, ${PROCESSES} processes, ${sharing} sharing: time to token`] = {
      'token requests': server.stats.tokenRequests,
      median: ms(median(times)),
      max: ms(Math.max(...times)),
      leaders: answers.filter((answer) => answer.leading).length,
    };
    await stop(children);
  }

  // 2. Takeover: 8 processes with a token; the leader is killed with SIGKILL, a replacement started, 15 times.
  {
    const config = configFor('local');
    const children = await Promise.all(Array.from({ length: PROCESSES }, () => spawnChild(config)));
    for (const child of children) child.process.send({ cmd: 'go' });
    await Promise.all(children.map((child) => child.next('token')));
    server.resetStats();
    const takeovers: number[] = [];
    for (let round = 0; round < 15; round++) {
      const leaderIndex = children.findIndex(leads);
      const leader = children[leaderIndex]!;
      const marks = children.map((child) => child.messages.length);
      const others = children.filter((child) => child !== leader);
      const next = Promise.race(
        others.map((child) => child.nextLeading(marks[children.indexOf(child)]!)),
      );
      const exited = new Promise((resolve) => leader.process.once('exit', resolve));
      const killedAt = performance.timeOrigin + performance.now();
      leader.process.kill('SIGKILL');
      const taken = (await next) as Extract<ChildMessage, { type: 'leader' }>;
      takeovers.push(taken.at - killedAt);
      await exited;
      const replacement = await spawnChild(config);
      replacement.process.send({ cmd: 'go' });
      await replacement.next('token');
      children[leaderIndex] = replacement;
    }
    // 3. Request → answer on the leader's socket (what a context without a usable token waits for), sequentially.
    const requestsBefore = server.stats.tokenRequests;
    const { key } = clientCredentials({ tokenUrl: config.tokenUrl, clientId: config.clientId, clientSecret: config.clientSecret });
    const socket = connect(socketPath(dir, key));
    await new Promise((resolve) => socket.once('connect', resolve));
    let buffered = '';
    let answered: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      while (buffered.includes('\n')) {
        const line = buffered.slice(0, buffered.indexOf('\n'));
        buffered = buffered.slice(buffered.indexOf('\n') + 1);
        if (line.includes('"id"')) answered?.();
      }
    });
    const roundTrips: number[] = [];
    for (let id = 0; id < 2_000; id++) {
      const begin = performance.now();
      await new Promise<void>((resolve) => {
        answered = resolve;
        socket.write(`${JSON.stringify({ v: 1, type: 'request', id })}\n`);
      });
      roundTrips.push(performance.now() - begin);
    }
    socket.destroy();
    results['request → answer on the socket (2,000 in a row, the leader in another process)'] = {
      'token requests': server.stats.tokenRequests - requestsBefore,
      median: `${(median(roundTrips) * 1000).toFixed(0)} µs`,
      max: ms(Math.max(...roundTrips)),
    };
    results[`takeover after SIGKILL of the leader (${takeovers.length} kills, ${PROCESSES} processes): kill → new leader`] = {
      'token requests': server.stats.tokenRequests,
      median: ms(median(takeovers)),
      max: ms(Math.max(...takeovers)),
      leaders: 1,
    };
    await stop(children);
  }

  console.log('shared-session local bench (Node %s, %s, %d cores)', process.version, process.platform, (await import('node:os')).cpus().length);
  console.table(results);
  await server.close();
  rmSync(root, { recursive: true, force: true });
}

// Last: `main` uses the helpers above.
if (process.env.LOCAL_BENCH_CHILD === undefined) await main();
