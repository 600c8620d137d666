/**
 * Where `deviceSignIn` keeps the refresh token between runs. Synchronous once opened, on purpose: a rotated refresh
 * token is written in the same turn of the event loop as the check that no sign-out came meanwhile, so a sign-out
 * can never be overtaken by the write of a token it ended.
 */
export interface RefreshTokenStore {
  /** Short name, for messages. */
  readonly kind: string;
  /** Loads what the store needs (the keychain binding) and checks where it writes; throws a typed error when unfit. `signal` ends the wait. */
  open(signal?: AbortSignal): Promise<void>;
  /** The stored refresh token, if any. Throws `insecure_storage` or `corrupt_storage` rather than read an unsafe one. */
  read(): string | undefined;
  /** Replaces the stored refresh token at once (never half-written). */
  write(refreshToken: string): void;
  /** Deletes the stored refresh token; with `expected`, only when it is that one (another process may have stored a newer one). */
  remove(expected?: string): void;
  /**
   * Runs `work` while no other process runs it on this store (a lock beside it), waiting at most `wait` ms: a refresh
   * reads, sends and writes the stored token under it, so that processes that do not share a session (degraded or
   * separate rendezvous, Windows) never send the same refresh token. Absent: the store cannot lock.
   */
  exclusive?<T>(work: () => Promise<T>, wait: number, signal: AbortSignal): Promise<T>;
}

/** `store: false`: nothing survives the process. */
export function memoryStore(): RefreshTokenStore {
  let stored: string | undefined;
  return {
    kind: 'memory',
    open: () => Promise.resolve(),
    read: () => stored,
    write: (refreshToken) => {
      stored = refreshToken;
    },
    remove: (expected) => {
      if (expected === undefined || stored === expected) stored = undefined;
    },
  };
}
