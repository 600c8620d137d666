import { appendFileSync, lstatSync } from 'node:fs';
import { codeOf } from './directory.js';

/** The most bytes one sign-out appends to catch the file up with this context's epoch (it was deleted meanwhile). */
const MAX_GAP = 65_536;

/**
 * The sign-out epoch of one credential, kept on disk beside its socket (`v2-<hash>.epoch`), so that a context learns
 * of a sign-out without asking the leader: a leader that is stopped or busy passes nothing on, and a context that
 * holds a usable token never asks it. The file holds one byte per sign-out and its size is the epoch: appends are
 * atomic and only grow it, so two sign-outs at once both count and no writer can lower it (no lock, no rename). It
 * holds no secret. Reading it is one `lstat` (a few µs), done before a context hands out the token it holds.
 */
export class EpochFile {
  readonly #path: string;
  /** This user (read once: `process.getuid()` costs as much as the `lstat`). */
  readonly #uid = process.getuid?.();

  /** The epoch file of the credential whose socket is `socketPath`. */
  constructor(socketPath: string) {
    this.#path = socketPath.replace(/\.sock$/, '.epoch');
  }

  /** The epoch recorded: 0 when there is no file, or when it is not a regular file of this user (never trusted). */
  read(): number {
    try {
      return this.#size() ?? 0;
    } catch {
      return 0;
    }
  }

  /**
   * Records a sign-out: raises the epoch to `atLeast` or more (one byte, or as many as the file is behind this
   * context), and returns the epoch recorded — more than `atLeast` when others signed out at the same time. Throws
   * with the reason when it cannot be recorded.
   */
  raise(atLeast: number): number {
    const size = this.#size();
    if (size === undefined) throw new Error('the epoch file is not a regular file of this user');
    try {
      appendFileSync(this.#path, '\n'.repeat(Math.min(MAX_GAP, Math.max(1, atLeast - size))), { mode: 0o600 });
    } catch (error) {
      throw new Error(`the epoch file cannot be written (${codeOf(error)})`);
    }
    return this.#size() ?? atLeast;
  }

  /** The file's size; 0 when missing; undefined when something else than a regular file of ours is there. */
  #size(): number | undefined {
    const stats = lstatSync(this.#path, { throwIfNoEntry: false });
    if (stats === undefined) return 0;
    if (!stats.isFile() || (this.#uid !== undefined && stats.uid !== this.#uid)) return undefined;
    return stats.size;
  }
}
