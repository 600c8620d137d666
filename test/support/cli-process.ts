import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built command line, as `npx shared-session` runs it (package.json `bin`). */
export const CLI = path.join(root, 'dist/cli/main.js');

export interface CliRun {
  readonly child: ChildProcess;
  /** What it wrote so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code; kills it after `timeout` ms (then rejects). */
  readonly exit: Promise<number>;
  /** Resolves with stderr once it matches `pattern` (bounded by `timeout`). */
  waitForStderr(pattern: RegExp, timeout?: number): Promise<RegExpExecArray>;
}

/** Starts `node dist/cli/main.js ...args` with `env` over this process's environment. */
export function startCli(args: readonly string[], env: Record<string, string | undefined>, timeout = 25_000): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  const exit = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shared-session ${args.join(' ')} did not exit within ${timeout} ms; stderr: ${stderr}`));
    }, timeout);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal === null ? -1 : 128));
    });
  });
  exit.catch(() => undefined);
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    waitForStderr: (pattern, wait = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`stderr never matched ${pattern}: ${stderr}`));
        }, wait);
        const check = (): void => {
          const found = pattern.exec(stderr);
          if (found === null) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        watchers.add(check);
        void exit.then(() => {
          if (watchers.delete(check)) {
            clearTimeout(timer);
            reject(new Error(`exited before stderr matched ${pattern}: ${stderr}`));
          }
        }, () => undefined);
        check();
      }),
  };
}

/** Runs the command line to its end: exit code, stdout, stderr. */
export async function runCli(args: readonly string[], env: Record<string, string | undefined>, timeout?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = startCli(args, env, timeout);
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}
