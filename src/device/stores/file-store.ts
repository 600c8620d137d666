import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import { abortError, SessionError } from '../../core/errors.js';
import type { RefreshTokenStore } from './store.js';

/**
 * The file's shape: versioned, so a later release can tell its own. Nothing but the refresh token is kept, and whose
 * it is (a digest of the issuer, client and scope): a file written for another credential is never sent to this one.
 */
const recordSchema = z.object({
  v: z.literal(1),
  refreshToken: z.string().check(z.minLength(1), z.maxLength(16_384)),
  credential: z.optional(z.string()),
});

/** Files larger than this are not read (a refresh token is at most a few KB). */
const MAX_FILE = 64 * 1024;

/**
 * The refresh token in a file only this user can read: created 0600 (exclusive, in the same directory, then renamed
 * over the old one, so a crash leaves the old token or the new one, never half of either) in a directory that is
 * ours and 0700, created so when missing. A file or directory with other permissions, another owner, or a symlink
 * is refused with `insecure_storage` before anything is read, never repaired: someone else made it so. With
 * `credential`, a file that names another credential is `corrupt_storage`: its refresh token is not ours to send.
 */
export function fileStore(path: string, credential?: string): RefreshTokenStore {
  const dir = dirname(path);
  const check = (): void => {
    const problem = unfitDirectory(dir);
    if (problem !== undefined) throw new SessionError('insecure_storage', `The refresh token's directory ${dir} is refused: ${problem}`);
  };
  return {
    kind: 'file',
    open() {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch (error) {
        return Promise.reject(new SessionError('insecure_storage', `The refresh token's directory ${dir} cannot be created (${codeOf(error)})`));
      }
      try {
        check();
      } catch (error) {
        return Promise.reject(error as Error);
      }
      return Promise.resolve();
    },
    read() {
      check();
      let stats: Stats;
      try {
        stats = lstatSync(path);
      } catch (error) {
        if (codeOf(error) === 'ENOENT') return undefined;
        throw new SessionError('insecure_storage', `The refresh token file ${path} cannot be checked (${codeOf(error)})`);
      }
      const problem = unfitFile(stats);
      if (problem !== undefined) throw new SessionError('insecure_storage', `The refresh token file ${path} is refused: ${problem}`);
      if (stats.size > MAX_FILE) throw new SessionError('corrupt_storage', `The refresh token file ${path} is too large`);
      let record: unknown;
      try {
        record = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        throw new SessionError('corrupt_storage', `The refresh token file ${path} is not the JSON this SDK writes`);
      }
      const parsed = recordSchema.safeParse(record);
      if (!parsed.success) throw new SessionError('corrupt_storage', `The refresh token file ${path} is not the record this SDK writes`);
      const owner = parsed.data.credential;
      if (credential !== undefined && owner !== undefined && owner !== credential) {
        throw new SessionError('corrupt_storage', `The refresh token file ${path} holds the sign-in of another issuer, client or scope: give each its own file`);
      }
      return parsed.data.refreshToken;
    },
    write(refreshToken) {
      check();
      const temporary = join(dir, `.${randomName()}.tmp`);
      let fd: number | undefined;
      try {
        // 'wx': never through a file or symlink someone put there; 0600 from the start, whatever the umask adds.
        fd = openSync(temporary, 'wx', 0o600);
        writeSync(fd, JSON.stringify({ v: 1, refreshToken, ...(credential !== undefined && { credential }) }));
        fsyncSync(fd);
        closeSync(fd);
        fd = undefined;
        renameSync(temporary, path);
      } catch (error) {
        if (fd !== undefined) closeSync(fd);
        removeQuietly(temporary);
        throw new SessionError('insecure_storage', `The refresh token could not be written to ${path} (${codeOf(error)})`);
      }
    },
    async exclusive(work, wait, signal) {
      check();
      const lock = `${path}.lock`;
      const deadline = Date.now() + wait;
      for (;;) {
        try {
          // 'wx': taken by exactly one process; holds its pid, so that a lock left by a killed one is taken over.
          const fd = openSync(lock, 'wx', 0o600);
          writeSync(fd, String(process.pid));
          closeSync(fd);
          break;
        } catch (error) {
          if (codeOf(error) !== 'EEXIST') throw new SessionError('insecure_storage', `The refresh token's lock ${lock} cannot be made (${codeOf(error)})`);
        }
        if (abandoned(lock, wait)) removeQuietly(lock);
        else if (signal.aborted) throw abortError(signal);
        else if (Date.now() >= deadline) throw new SessionError('timeout', `Another process held the refresh token's lock ${lock} longer than ${wait} ms`);
        else await new Promise((resolve) => setTimeout(resolve, 25));
      }
      try {
        return await work();
      } finally {
        removeQuietly(lock);
      }
    },
    remove(expected) {
      if (expected !== undefined) {
        let current: string | undefined;
        try {
          current = this.read();
        } catch {
          // Unreadable or refused: not ours to judge here; `signOut` (no `expected`) deletes it.
          return;
        }
        if (current !== expected) return;
      }
      removeQuietly(path);
    },
  };
}

/** Why `dir` is not fit for a secret: not a real directory, not ours, or open to others. Undefined when fit. */
function unfitDirectory(dir: string): string | undefined {
  let stats: Stats;
  try {
    stats = lstatSync(dir);
  } catch (error) {
    return `it cannot be read (${codeOf(error)})`;
  }
  if (stats.isSymbolicLink()) return 'it is a symbolic link';
  if (!stats.isDirectory()) return 'it is not a directory';
  return ownerOrModeProblem(stats, 'directory', 0o700);
}

function unfitFile(stats: Stats): string | undefined {
  if (stats.isSymbolicLink()) return 'it is a symbolic link';
  if (!stats.isFile()) return 'it is not a regular file';
  return ownerOrModeProblem(stats, 'file', 0o600);
}

function ownerOrModeProblem(stats: Stats, what: string, mode: number): string | undefined {
  // Windows has neither uids nor these modes: the file lives under the user's profile, which only they can open.
  if (process.platform === 'win32') return undefined;
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) return `the ${what} belongs to another user (uid ${stats.uid})`;
  if ((stats.mode & 0o077) !== 0) return `the ${what}'s mode is ${(stats.mode & 0o777).toString(8)}, not ${mode.toString(8)} (others could read or replace it)`;
  return undefined;
}

/** Whether the lock's holder is gone (its pid is no process here), or it is older than any refresh can take. */
function abandoned(lock: string, wait: number): boolean {
  try {
    const holder = Number(readFileSync(lock, 'utf8'));
    if (Date.now() - lstatSync(lock).mtimeMs > 2 * wait) return true;
    if (!Number.isSafeInteger(holder) || holder <= 0) return false;
    process.kill(holder, 0);
    return false;
  } catch (error) {
    return codeOf(error) === 'ESRCH';
  }
}

function randomName(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'error';
}
