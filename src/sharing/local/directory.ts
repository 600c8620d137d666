import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashKey } from '../../core/digest.js';
import { FORMAT } from './protocol.js';

/**
 * The longest socket path the kernel accepts: `sun_path` is 108 bytes on Linux, 104 on macOS and the BSDs, with its
 * NUL. Node 20 truncates longer paths silently and binds elsewhere, so the length is checked here.
 */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/** What the temporary name a leader binds before it links the socket into place may add to the socket's path. */
const TEMPORARY_SUFFIX = '.12345678901234567890.tmp'.length;

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

/** Directories this process checked already (a check is a few system calls; sessions may be created often). */
const checked = new Set<string>();

/**
 * Creates `dir` (mode 0700) when it does not exist, and checks that only this user can use it: a real directory
 * (not a symlink), owned by us, mode exactly 0700. Returns why not, or undefined when it is fit. A directory that
 * fails is never repaired: someone else made it so.
 */
export function unfitDirectory(dir: string, socket: string): string | undefined {
  if (Buffer.byteLength(socket) + TEMPORARY_SUFFIX > MAX_SOCKET_PATH) {
    return `the socket path would be longer than ${MAX_SOCKET_PATH} bytes: choose a shorter \`dir\``;
  }
  if (checked.has(dir)) return undefined;
  try {
    mkdirSync(dir, { mode: 0o700 });
    // Ours, just made: exactly 0700 whatever the umask.
    chmodSync(dir, 0o700);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create the directory (${codeOf(error)})`;
  }
  let stats;
  try {
    stats = lstatSync(dir);
  } catch (error) {
    return `cannot read the directory (${codeOf(error)})`;
  }
  if (stats.isSymbolicLink()) return 'the directory is a symbolic link';
  if (!stats.isDirectory()) return 'the path is not a directory';
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) return 'the directory belongs to another user';
  if ((stats.mode & 0o777) !== 0o700) return `the directory's mode is ${(stats.mode & 0o777).toString(8)}, not 700`;
  checked.add(dir);
  return undefined;
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'error';
}
