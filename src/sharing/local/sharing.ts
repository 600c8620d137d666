import { SessionError } from '../../core/errors.js';
import { memorySharing } from '../memory.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing.js';
import { defaultDirectory, socketPath, unfitDirectory, unfitSocketPath } from './directory.js';
import { LocalLink, type Settings } from './link.js';
import { permissionProblem } from './permissions.js';

/** Options of {@link localSharing}. */
export interface LocalSharingOptions {
  /**
   * The rendezvous directory: one Unix domain socket per credential lives there, nothing else. It must be a
   * directory only this user can open (owned by us, mode 0700, not a symlink, in a parent owned by us or root); it
   * is created when missing, and checked again before every election and connect. Default:
   * `$XDG_RUNTIME_DIR/shared-session`, else `<os.tmpdir()>/shared-session-<uid>`. Set it when the processes do not
   * share one temporary directory (containers that share a volume, systemd's `PrivateTmp`).
   */
  readonly dir?: string | undefined;
  /**
   * Longest time (ms) `getToken` in a process that is not the leader waits for the leader's answer (its token
   * request included), then `timeout`. Default 60 000.
   */
  readonly timeout?: number | undefined;
  /**
   * How long (ms) a request to the leader may meet silence — its event loop busy with CPU work, or the process
   * stopped — before the asking context replaces it (a leader alive says `busy` while it requests a token). A
   * rotating refresh token is never sent by the replacement while the silent leader may be using it: those callers
   * fail with `timeout` instead. Default 2 000, as the browser's `answerTimeout`.
   */
  readonly answerTimeout?: number | undefined;
}

/** setTimeout overflows past this. */
const MAX_DURATION = 2_147_483_647;
/** Below this, a loaded machine's ordinary pauses would pass for silence. */
const MIN_ANSWER_TIMEOUT = 500;

const sharings = new Map<string, Sharing>();

/**
 * Shares one session per credential between every thread and process of one machine that runs as the same user:
 * `worker_threads` (a piscina pool), `child_process.fork` children, `cluster` workers, processes started by a
 * process manager, Deno processes. Pass it as the `sharing` option of `createSession` in each of them.
 *
 * - One Unix domain socket per credential, in a directory only this user can open: whichever context binds it is
 *   the leader (it fetches, refreshes ahead of expiry and answers); the others connect and receive every token.
 *   When the leader exits or is killed (even with SIGKILL), the kernel closes its connections and another context
 *   takes over within milliseconds, adopting the token the others hold. A leader that is alive but silent (busy or
 *   stopped) is replaced after `answerTimeout`.
 * - A sign-out reaches every context: the leader passes it on, and it is counted beside the socket, read before a
 *   context hands out the token it holds — so also while the leader is stopped or busy.
 * - Nothing is written to disk but the empty socket inode and the sign-out count. The refresh token of a rotating grant
 *   (`refreshTokenGrant`) travels over the socket to the other contexts of the same user, so that a new leader
 *   continues the rotation; a spent one is sent at most once (after a leader died mid-rotation), then every context
 *   is signed out.
 * - On Windows, or when the directory is not safe (another owner, another mode, a symlink), the socket path too
 *   long, or a Deno permission missing, each context keeps its own session in memory, reported once as
 *   `sharing_degraded`.
 *
 * @example
 * import { localSharing } from 'shared-session/node';
 * const session = createSession({ provider, sharing: localSharing() }); // in every thread and process
 */
export function localSharing(options: LocalSharingOptions = {}): Sharing {
  const { dir } = options;
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) {
    throw new SessionError('invalid_options', 'dir must be a non-empty string');
  }
  const timeout = options.timeout ?? 60_000;
  if (!Number.isInteger(timeout) || timeout <= 0 || timeout > MAX_DURATION) {
    throw new SessionError('invalid_options', `timeout must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  const answerTimeout = options.answerTimeout ?? 2_000;
  if (!Number.isInteger(answerTimeout) || answerTimeout < MIN_ANSWER_TIMEOUT || answerTimeout > MAX_DURATION) {
    throw new SessionError('invalid_options', `answerTimeout must be a whole number of ms between ${MIN_ANSWER_TIMEOUT} and ${MAX_DURATION}`);
  }
  // One transport per settings in a context, so that sessions created with `localSharing()` each time share a core.
  const id = `${timeout}:${answerTimeout}:${dir ?? ''}`;
  let sharing = sharings.get(id);
  if (sharing === undefined) {
    const settings: Settings = { dir, timeout, answerTimeout };
    sharing = { kind: 'local', acrossProcesses: true, connect: (peer) => connect(peer, settings) };
    sharings.set(id, sharing);
  }
  return sharing;
}

function connect(peer: SharingPeer, settings: Settings): SharedLink {
  const degraded = (why: string): SharedLink => {
    // Known while `createSession` runs: told a moment later, so that listeners added right after it hear it.
    setTimeout(() => peer.report(new SessionError('sharing_degraded', `localSharing: ${why}; the token is not shared`)), 0);
    return memorySharing().connect(peer);
  };
  if (process.platform === 'win32') return degraded('Windows is not supported');
  const missing = permissionProblem(settings.dir);
  if (missing !== undefined) return degraded(missing);
  const dir = settings.dir ?? defaultDirectory();
  const path = socketPath(dir, peer.key);
  const unfit = unfitSocketPath(path) ?? unfitDirectory(dir);
  if (unfit !== undefined) return degraded(unfit);
  return new LocalLink(peer, dir, path, settings);
}

