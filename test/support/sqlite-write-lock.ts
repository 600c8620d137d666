import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';

/**
 * Stopping a Deno process that shares a KV file (the CLI's KV is SQLite in WAL mode), at a moment it is not writing.
 * A process stopped inside a KV write keeps SQLite's write lock, and every other process's writes wait until it
 * resumes: that is a case of its own (test/deno/review-deno-kv.test.ts, docs/deno-kv.md), not the one a test of a
 * frozen lease holder is about. Linux lists each process's POSIX locks in /proc/locks; elsewhere the stop is taken as
 * it comes.
 */

interface StoppableProcess {
  readonly pid: number;
  kill(signal: NodeJS.Signals): void;
}

const TRIES = 200;

/** SIGSTOP `process` while it holds no exclusive lock on `kvFile` or its `-shm` (SIGCONT and try again, bounded). */
export async function stopOutsideSqliteWrite(process: StoppableProcess, kvFile: string): Promise<void> {
  if (!existsSync('/proc/locks')) return process.kill('SIGSTOP');
  const inodes = [kvFile, `${kvFile}-shm`].filter((file) => existsSync(file)).map((file) => statSync(file).ino);
  for (let attempt = 1; attempt <= TRIES; attempt++) {
    process.kill('SIGSTOP');
    await stoppedState(process.pid);
    if (!holdsExclusiveLock(process.pid, inodes)) return;
    process.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  }
  throw new Error(`process ${process.pid} was inside a write to ${kvFile} at each of ${TRIES} stops`);
}

/** Resolves once the kernel shows every thread of `pid` stopped (each stops when it next runs). */
async function stoppedState(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!readdirSync(`/proc/${pid}/task`).every((thread) => isStopped(`/proc/${pid}/task/${thread}/stat`))) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within 5 s of SIGSTOP`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A stat file reads "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")". */
function isStopped(statFile: string): boolean {
  try {
    return /\)\s+T\s/.test(readFileSync(statFile, 'utf8'));
  } catch {
    return true; // a thread that ended meanwhile
  }
}

/** Lines of /proc/locks: "7: POSIX  ADVISORY  WRITE 28220 fe:00:2151272 120 120" (a blocked waiter's lines hold "->"). */
function holdsExclusiveLock(pid: number, inodes: readonly number[]): boolean {
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== 'POSIX' || fields[3] !== 'WRITE' || Number(fields[4]) !== pid) return false;
      return inodes.includes(Number(fields[5]?.split(':')[2]));
    });
}
