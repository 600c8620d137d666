import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { freePort } from './free-port.js';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A real `redis-server` (Debian package) on 127.0.0.1 at a random free port, without persistence. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Runs `redis-cli` against this server and returns its output (`--raw`). */
  cli(...args: string[]): Promise<string>;
  /** SIGSTOP: the server keeps its connections but answers nothing until `resume()`. */
  pause(): void;
  resume(): void;
  /** SIGKILL, and wait until it is gone. Idempotent. */
  stop(): Promise<void>;
}

/** Starts one; `restartOn` restarts a server on the port of one that was stopped (a crash and restart, empty). */
export async function startRedisServer(restartOn?: number): Promise<RedisServer> {
  const port = restartOn ?? (await freePort());
  const child = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cli = async (...args: string[]): Promise<string> =>
    (await run('/usr/bin/redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--raw', ...args], { timeout: 10_000 })).stdout;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if ((await cli('PING').catch(() => '')).trim() === 'PONG') break;
    if (attempt > 100) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cli,
    pause: () => signal(child, 'SIGSTOP'),
    resume: () => signal(child, 'SIGCONT'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(name);
}

