import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hashKey } from '../../core/digest.js';
import { FORMAT } from './protocol.js';

/**
 * The longest socket path the kernel accepts: `sun_path` is 108 bytes on Linux, 104 on macOS and the BSDs, with its
 * NUL. Node 20 truncates longer paths silently and binds elsewhere, so the length is checked here.
 */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/**
 * The rendezvous directory: `dir`, else `$XDG_RUNTIME_DIR/shared-session`, else `<os.tmpdir()>/shared-session-<uid>`.
 */
export function defaultDirectory(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime.startsWith('/')) return join(runtime, 'shared-session');
  return join(tmpdir(), `shared-session-${process.getuid?.() ?? 'user'}`);
}

/** The socket of one credential in `dir`: named after a SHA-256 of its key and the format version. */
export function socketPath(dir: string, key: string): string {
  return join(dir, `v${FORMAT}-${hashKey(key)}.sock`);
}

/**
 * The name a leader binds before it links the socket into place: in the same directory (a hard link cannot cross
 * file systems) and shorter than the socket's own name, so that only the socket path's length matters.
 */
export function temporaryPath(socket: string): string {
  const random = crypto.getRandomValues(new Uint8Array(6));
  return join(dirname(socket), `.t${Array.from(random, (byte) => byte.toString(16).padStart(2, '0')).join('')}`);
}

/** Why `socket` cannot be bound or connected to (longer than the kernel allows), or undefined. */
export function unfitSocketPath(socket: string): string | undefined {
  const length = Buffer.byteLength(socket);
  if (length <= MAX_SOCKET_PATH) return undefined;
  return `the socket path is ${length} bytes, longer than ${MAX_SOCKET_PATH} bytes (the kernel's limit): choose a shorter \`dir\``;
}

/**
 * Creates `dir` (mode 0700) when it does not exist, and checks that only this user can use it: a real directory
 * (not a symlink), owned by us, mode exactly 0700, in a parent that nobody else can rename it out of (owned by us or
 * root; when others may write to it, sticky, as /tmp). Returns why not, or undefined when it is fit. Called before
 * every election and connect, never remembered: a directory deleted meanwhile may have been made again by another
 * user. A directory that fails is never repaired: someone else made it so.
 */
export function unfitDirectory(dir: string): string | undefined {
  const uid = process.getuid?.();
  const parent = dirname(dir);
  try {
    const stats = statSync(parent);
    if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) return `the parent directory ${parent} belongs to another user`;
    if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) {
      return `the parent directory ${parent} is writable by others and not sticky`;
    }
  } catch (error) {
    // A missing parent: creating the directory fails below, and says so.
    if (codeOf(error) !== 'ENOENT') return `cannot read the parent directory (${codeOf(error)})`;
  }
  try {
    mkdirSync(dir, { mode: 0o700 });
    // Ours, just made: exactly 0700 whatever the umask.
    chmodSync(dir, 0o700);
  } catch (error) {
    if (codeOf(error) !== 'EEXIST') return `cannot create the directory (${codeOf(error)})`;
  }
  let stats;
  try {
    stats = lstatSync(dir);
  } catch (error) {
    return `cannot read the directory (${codeOf(error)})`;
  }
  if (stats.isSymbolicLink()) return 'the directory is a symbolic link';
  if (!stats.isDirectory()) return 'the path is not a directory';
  if (uid !== undefined && stats.uid !== uid) return 'the directory belongs to another user';
  if ((stats.mode & 0o777) !== 0o700) return `the directory's mode is ${(stats.mode & 0o777).toString(8)}, not 700`;
  return undefined;
}

/** A file at the path: what tells it from the next one there (device, inode, change time in ns), and its owner. */
export interface FileIdentity {
  readonly id: string;
  readonly uid: number;
}

/** The identity of the file at `path`, or undefined when there is none. */
export function identityOf(path: string): FileIdentity | undefined {
  try {
    const stats = lstatSync(path, { bigint: true });
    return { id: `${stats.dev}:${stats.ino}:${stats.ctimeNs}`, uid: Number(stats.uid) };
  } catch {
    return undefined;
  }
}

/** Whether `file` belongs to this user (another user's socket is never connected to). */
export function isOurs(file: FileIdentity): boolean {
  const uid = process.getuid?.();
  return uid === undefined || file.uid === uid;
}

/** Deletes `path` if it is still the file `expected` (a file made there since is someone else's). */
export function unlinkIfSame(path: string, expected: FileIdentity | undefined): void {
  if (expected === undefined || identityOf(path)?.id !== expected.id) return;
  unlinkQuietly(path);
}

export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

export function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'error';
}
