/**
 * `npm run bench -- local`: `localSharing` across real Node processes of one machine, against the real token server.
 * - cold start of 8 processes, each one `getToken`, with `localSharing` vs the same processes with `memorySharing`
 *   (each on its own): token requests (goal 1 vs 8) and the time until all 8 hold a token;
 * - takeover after SIGKILL of the leader: kill → a new leader, vs kill → the kernel closing a bare connection to the
 *   dead leader's socket (the notice every takeover waits for);
 * - request → answer on the leader's socket (a context without a usable token waits for this) vs the round trip of
 *   one line to a bare echo server in another process.
 * Rounds alternate between the two sides, each cold start with a new credential (`--smoke`: 4 processes, one round
 * of each). The processes are this same script, forked with `BENCH_LOCAL_CHILD=1`. Prints numbers; asserts nothing.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientCredentials, createSession, memorySharing, type Session } from '../src/index.js';
import { localSharing } from '../src/node.js';
import { socketPath } from '../src/sharing/local/directory.js';
import { FORMAT } from '../src/sharing/local/protocol.js';
import { median, report, type Row, smoke } from './lib/pairs.js';

interface Credentials {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Parent → child. */
type Command =
  | { cmd: 'cold'; sharing: 'local' | 'memory'; credentials: Credentials; dir: string }
  | { cmd: 'join'; credentials: Credentials; dir: string }
  | { cmd: 'probe'; path: string }
  | { cmd: 'echo'; path: string }
  | { cmd: 'drop' }
  | { cmd: 'exit' };

/** Child → parent. Times are epoch ms (performance.timeOrigin + now), comparable across processes. */
type Event =
  | { type: 'ready' }
  | { type: 'token'; at: number }
  | { type: 'leader'; at: number; leading: boolean }
  | { type: 'probed' }
  | { type: 'closed'; at: number }
  | { type: 'echoing' }
  | { type: 'dropped' };

const now = (): number => performance.timeOrigin + performance.now();
/**
 * The longest wait for one answer (a child's event, a reply on a socket) before the bench fails. The smoke run waits as
 * long as its test allows the whole bench (test/node/bench-smoke.test.ts: 40 s plus 40 process starts as this machine
 * costs them now), so that a loaded machine's slow process start does not fail it: 4 processes started at load 30
 * were not all ready within 15 s.
 */
const WAIT_LIMIT = smoke ? 10 * 60_000 : 15_000;

if (process.env.BENCH_LOCAL_CHILD === '1') child();
else await parent();

function child(): void {
  const send = (event: Event): void => {
    if (process.connected) process.send!(event);
  };
  let sessions: Session[] = [];
  const open = (credentials: Credentials, sharing: ReturnType<typeof localSharing>): Session => {
    const session = createSession({ provider: clientCredentials(credentials), sharing });
    sessions.push(session);
    return session;
  };
  process.on('message', (command: Command) => {
    switch (command.cmd) {
      case 'cold': {
        const session = open(command.credentials, command.sharing === 'local' ? localSharing({ dir: command.dir }) : memorySharing());
        void session.getToken().then(() => send({ type: 'token', at: now() }));
        return;
      }
      case 'join': {
        const session = open(command.credentials, localSharing({ dir: command.dir }));
        session.on('leader', (leading) => send({ type: 'leader', at: now(), leading }));
        void session.getToken().then(() => send({ type: 'token', at: now() }));
        return;
      }
      case 'probe': {
        // A bare connection to the leader's socket: when does the kernel tell us that the leader died?
        const probe = connect(command.path);
        probe.on('connect', () => send({ type: 'probed' }));
        probe.resume(); // read (and drop) what the leader says, or the end of the stream is never seen
        probe.on('close', () => send({ type: 'closed', at: now() }));
        probe.on('error', () => undefined);
        return;
      }
      case 'echo': {
        const server = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
        server.listen(command.path, () => send({ type: 'echoing' }));
        server.unref();
        return;
      }
      case 'drop':
        void Promise.all(sessions.map((session) => session.close())).then(() => {
          sessions = [];
          send({ type: 'dropped' });
        });
        return;
      case 'exit':
        process.exit(0);
    }
  });
  // The parent died (or failed): nothing is left running.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

interface Child {
  readonly process: ChildProcess;
  readonly events: Event[];
  send(command: Command): void;
  /** The next event matching `test`, from `since` (an index into `events`). */
  next(test: (event: Event) => boolean, since?: number): Promise<Event>;
}

async function spawnChild(): Promise<Child> {
  const process_ = fork(process.argv[1]!, { env: { ...process.env, BENCH_LOCAL_CHILD: '1' }, stdio: 'inherit' });
  const events: Event[] = [];
  const watchers = new Set<() => void>();
  process_.on('message', (event: Event) => {
    events.push(event);
    for (const watcher of watchers) watcher();
  });
  const child: Child = {
    process: process_,
    events,
    send: (command) => process_.send(command),
    next(test, since = events.length) {
      return new Promise((resolve, reject) => {
        // Bounded: a child that never answers (a protocol change it missed) fails the bench instead of hanging it.
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`bench/local.ts: no answer from a child process within ${WAIT_LIMIT} ms (${test.toString()})`));
        }, WAIT_LIMIT);
        // The losers of a race (the first new leader) wait on: they must not keep the bench alive.
        timer.unref();
        const check = (): void => {
          const found = events.slice(since).find(test);
          if (found === undefined) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve(found);
        };
        watchers.add(check);
        check();
      });
    },
  };
  await child.next((event) => event.type === 'ready', 0);
  return child;
}

/** Whether the last leadership event of `child` said it leads. */
function leads(child: Child): boolean {
  const last = child.events.filter((event) => event.type === 'leader').at(-1);
  return last?.type === 'leader' && last.leading;
}

async function parent(): Promise<void> {
  const { startTokenServer } = await import('../test/support/token-server.js');
  // The smoke run only proves that the bench still works (test/node/bench-smoke.test.ts gives it 40 s on a busy
  // machine): fewer processes, one round of each, no warm-up.
  const PROCESSES = smoke ? 4 : 8;
  const ROUNDS = smoke ? 1 : 9;
  const KILLS = smoke ? 1 : 15;
  const ROUND_TRIPS = smoke ? 20 : 2_000;

  const server = await startTokenServer();
  const root = mkdtempSync(path.join(tmpdir(), 'bench-local-'));
  const dir = path.join(root, 'rendezvous');
  let clients = 0;
  const credentialsOf = (): Credentials => {
    const { id, secret } = server.addClient(`local-${++clients}`);
    return { tokenUrl: server.tokenUrl, clientId: id, clientSecret: secret };
  };
  const fleet = await Promise.all(Array.from({ length: PROCESSES }, () => spawnChild()));

  // 1. Cold start: every process creates a session for a new credential and calls getToken at the same moment.
  const coldStart = async (sharing: 'local' | 'memory'): Promise<{ ms: number; requests: number }> => {
    const credentials = credentialsOf();
    server.resetStats();
    const started = now();
    const tokens = fleet.map((member) => member.next((event) => event.type === 'token'));
    for (const member of fleet) member.send({ cmd: 'cold', sharing, credentials, dir });
    const times = (await Promise.all(tokens)).map((event) => (event as Extract<Event, { type: 'token' }>).at - started);
    const requests = server.stats.tokenRequests;
    const dropped = fleet.map((member) => member.next((event) => event.type === 'dropped'));
    for (const member of fleet) member.send({ cmd: 'drop' });
    await Promise.all(dropped);
    return { ms: Math.max(...times), requests };
  };
  const sides = { local: { ms: [] as number[], requests: [] as number[] }, memory: { ms: [] as number[], requests: [] as number[] } };
  if (!smoke) {
    await coldStart('local'); // warm up: the processes' first fetch, JIT
    await coldStart('memory');
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const sharing of round % 2 === 0 ? (['local', 'memory'] as const) : (['memory', 'local'] as const)) {
      const { ms, requests } = await coldStart(sharing);
      sides[sharing].ms.push(ms);
      sides[sharing].requests.push(requests);
    }
  }

  // 2. Takeover: the fleet on one credential; the leader is killed with SIGKILL, then replaced by a new process.
  const credentials = credentialsOf();
  const joined = fleet.map((member) => member.next((event) => event.type === 'token'));
  for (const member of fleet) member.send({ cmd: 'join', credentials, dir });
  await Promise.all(joined);
  const { key } = clientCredentials(credentials);
  const leaderSocket = socketPath(dir, key);
  server.resetStats();
  const takeover: number[] = [];
  const kernelNotice: number[] = [];
  for (let kill = 0; kill < KILLS; kill++) {
    const leaderIndex = fleet.findIndex(leads);
    const leader = fleet[leaderIndex]!;
    const others = fleet.filter((member) => member !== leader);
    const probed = others.map((member) => member.next((event) => event.type === 'probed'));
    for (const member of others) member.send({ cmd: 'probe', path: leaderSocket });
    await Promise.all(probed);
    const closed = others.map((member) => member.next((event) => event.type === 'closed'));
    const next = Promise.race(others.map((member) => member.next((event) => event.type === 'leader' && event.leading)));
    const exited = new Promise((resolve) => leader.process.once('exit', resolve));
    const killedAt = now();
    leader.process.kill('SIGKILL');
    const taken = (await next) as Extract<Event, { type: 'leader' }>;
    const notices = (await Promise.all(closed)).map((event) => (event as Extract<Event, { type: 'closed' }>).at - killedAt);
    takeover.push(taken.at - killedAt);
    kernelNotice.push(Math.min(...notices));
    await exited;
    const replacement = await spawnChild();
    const token = replacement.next((event) => event.type === 'token');
    replacement.send({ cmd: 'join', credentials, dir });
    await token;
    fleet[leaderIndex] = replacement;
  }
  const takeoverRequests = server.stats.tokenRequests;

  // 3. Request → answer on the leader's socket vs one line to a bare echo server in another process.
  const echoPath = path.join(dir, 'echo.sock');
  const echoing = fleet[0]!.next((event) => event.type === 'echoing');
  fleet[0]!.send({ cmd: 'echo', path: echoPath });
  await echoing;
  const roundTrips = async (file: string, line: (id: number) => string): Promise<number> => {
    const socket: Socket = connect(file);
    await new Promise((resolve) => socket.once('connect', resolve));
    let answered: (() => void) | undefined;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const received = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (received.includes('"id"')) answered?.();
      }
    });
    const times: number[] = [];
    for (let id = 0; id < ROUND_TRIPS / ROUNDS; id++) {
      const begin = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bench/local.ts: no answer on ${file} within ${WAIT_LIMIT} ms`)), WAIT_LIMIT);
        answered = () => {
          clearTimeout(timer);
          resolve();
        };
        socket.write(line(id));
      });
      times.push((performance.now() - begin) * 1000);
    }
    socket.destroy();
    return median(times);
  };
  const answer: number[] = [];
  const echo: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    answer.push(await roundTrips(leaderSocket, (id) => `${JSON.stringify({ v: FORMAT, type: 'request', id })}\n`));
    echo.push(await roundTrips(echoPath, (id) => `${JSON.stringify({ v: FORMAT, type: 'token', id })}\n`));
  }

  for (const member of fleet) member.send({ cmd: 'exit' });
  await server.close();
  rmSync(root, { recursive: true, force: true });

  const rows: Row[] = [
    {
      id: 'local-cold-requests',
      figure: `token requests, cold start of ${PROCESSES} processes`,
      unit: 'requests',
      better: 'lower',
      ours: { label: 'localSharing', values: sides.local.requests },
      baseline: { label: 'memorySharing in each process', values: sides.memory.requests },
      goal: `1 vs ${PROCESSES}`,
      met: Math.max(...sides.local.requests) === 1,
    },
    {
      id: 'local-cold-time',
      figure: `time until ${PROCESSES} processes hold a token`,
      unit: 'ms',
      better: 'lower',
      ours: { label: 'localSharing', values: sides.local.ms },
      baseline: { label: 'memorySharing in each process', values: sides.memory.ms },
    },
    {
      id: 'local-takeover',
      figure: `takeover after SIGKILL of the leader (${KILLS} kills, ${PROCESSES} processes)`,
      unit: 'ms',
      better: 'lower',
      ours: { label: 'kill → new leader', values: takeover },
      baseline: { label: 'kill → the kernel closes a bare connection to it', values: kernelNotice },
      note: `${takeoverRequests} token requests during the kills (the token stays valid)`,
    },
    {
      id: 'local-answer',
      figure: 'request → answer on the leader socket (another process)',
      unit: 'µs',
      better: 'lower',
      ours: { label: 'the leader answers with its token', values: answer },
      baseline: { label: 'a bare echo server, one line', values: echo },
    },
  ];
  const worst = Math.max(...takeover);
  report({
    bench: 'local',
    title: 'shared-session: localSharing across the processes of one machine',
    rows,
    notes: [`takeover: median ${median(takeover).toFixed(1)} ms, max ${worst.toFixed(1)} ms; ${takeoverRequests} token requests during the kills`],
  });
}
