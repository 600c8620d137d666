import type { BroadcastChannel as ElectionChannel, LeaderElectionOptions, LeaderElector } from 'broadcast-channel';

/**
 * A leader election on Web Locks alone, with the part of broadcast-channel's `createLeaderElection` that
 * `election.ts` uses. Deno loads it in place of broadcast-channel (package.json `imports`, condition `deno`): Deno
 * resolves broadcast-channel's `exports` to its Node build, whose import already reads `TMPDIR` (a permission
 * prompt, or a crash without `--allow-env`), and Deno always has Web Locks, shared by every worker of a process.
 *
 * Same lock name as broadcast-channel's, and the same contract: the context holding the lock leads until `die()`.
 */
export function createLeaderElection(channel: ElectionChannel, _options?: LeaderElectionOptions): LeaderElector {
  const lockName = `pubkey-bc||native||${channel.name}`;
  const stop = new AbortController();
  let resign: (() => void) | undefined;
  let leadership: Promise<void> | undefined;
  const elector = {
    broadcastChannel: channel,
    isLeader: false,
    isDead: false,
    token: lockName,
    async hasLeader(): Promise<boolean> {
      const { held = [] } = await navigator.locks.query();
      return held.some((lock) => lock.name === lockName);
    },
    awaitLeadership(): Promise<void> {
      leadership ??= new Promise<void>((resolve, reject) => {
        navigator.locks
          .request(lockName, { signal: stop.signal }, () => {
            if (elector.isDead) return undefined;
            elector.isLeader = true;
            resolve();
            // Held until die(): the next context in the lock's queue leads at once.
            return new Promise<void>((release) => (resign = release));
          })
          .catch((error: unknown) => {
            // die() aborted the wait: never leading, and not an error (as broadcast-channel's).
            if (!stop.signal.aborted) reject(error as Error);
          });
      });
      return leadership;
    },
    die(): Promise<void> {
      elector.isDead = true;
      elector.isLeader = false;
      resign?.();
      stop.abort();
      return Promise.resolve();
    },
  };
  return elector as unknown as LeaderElector;
}
