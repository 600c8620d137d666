import type { BroadcastChannel as ElectionChannel, LeaderElectionOptions, LeaderElector } from 'broadcast-channel';

/**
 * A leader election with the part of broadcast-channel's `createLeaderElection` that `election.ts` uses. Deno loads
 * it in place of broadcast-channel (package.json `imports`, condition `deno`): Deno resolves broadcast-channel's
 * `exports` to its Node build, whose import already reads `TMPDIR` (a permission prompt, or a crash without
 * `--allow-env`).
 *
 * - With Web Locks (every Deno release we test; shared by every worker of a process): the same lock as
 *   broadcast-channel's, and the same contract: the context holding the lock leads until `die()`.
 * - Without them (an older Deno, an embedder, a runtime that hides them): an election by messages on the credential's
 *   channel, with broadcast-channel's message protocol (`apply`, `tell`, `death`; see `messageElection`).
 */
export function createLeaderElection(channel: ElectionChannel, options?: LeaderElectionOptions): LeaderElector {
  const elector = globalThis.navigator?.locks === undefined ? messageElection(channel, options) : lockElector(channel);
  return elector as unknown as LeaderElector;
}

/** How long `die()` waits for the browser to release the lock (it does so at once: this only bounds the wait). */
const RELEASE_WAIT = 1_000;

/** What `createElection` (election.ts) hands an election: its side of the credential's channel. */
interface Channel {
  readonly name: string;
  postInternal(message: ElectionMessage): Promise<void>;
  addEventListener(type: 'internal', listener: (message: ElectionMessage) => void): void;
  removeEventListener(type: 'internal', listener: (message: ElectionMessage) => void): void;
}

/** broadcast-channel's election messages (`leader-election-util.js`): the same on the wire. */
interface ElectionMessage {
  readonly context: 'leader';
  readonly action: 'apply' | 'tell' | 'death';
  readonly token: string;
}

/** The members of broadcast-channel's `LeaderElector` that `election.ts` and `sharing.ts` use. */
interface Elector {
  readonly broadcastChannel: unknown;
  readonly token: string;
  isLeader: boolean;
  isDead: boolean;
  hasLeader(): Promise<boolean>;
  awaitLeadership(): Promise<void>;
  die(): Promise<void>;
}

/**
 * The Web Locks election: the context holding the lock `pubkey-bc||native||<channel>` (broadcast-channel's name for
 * it, so that contexts of either kind share one lock) leads until `die()`. Used in browsers too: broadcast-channel's
 * leader adds an `unload` listener to the window for good, which keeps that page out of Chromium's back/forward cache
 * (`UnloadHandlerExistsInMainFrame`).
 */
export function lockElection(channel: ElectionChannel): LeaderElector {
  return lockElector(channel) as unknown as LeaderElector;
}

function lockElector(channel: ElectionChannel): Elector {
  const lockName = `pubkey-bc||native||${channel.name}`;
  const stop = new AbortController();
  let resign: (() => void) | undefined;
  let leadership: Promise<void> | undefined;
  /** The lock request: settles once the browser has released the lock, or dropped the request die() aborted. */
  let request: Promise<unknown> | undefined;
  const elector: Elector = {
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
        request = navigator.locks
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
      // Settled when the lock is free again (released, or the queued request dropped): a closed session leaves no
      // lock behind, and `navigator.locks.query()` right after `close()` shows none. Bounded all the same.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WAIT)));
      return Promise.race([request, bound]).then(() => clearTimeout(timer));
    },
  };
  return elector;
}

/**
 * The election without Web Locks, on broadcast-channel's protocol (`leader-election.js`, 7.4):
 *
 * - a context that wants to lead sends `apply` twice, `responseTime` apart, and leads if in that time no leader
 *   answered `tell` and no context with a higher token applied (ties go to the higher token, so two contexts that
 *   apply together elect one);
 * - the leader answers every `apply` with `tell`, and sends `death` when it closes: the others apply at once;
 * - a leader that ends without a word (a terminated worker, a crashed process) is replaced by the next fallback round:
 *   every `fallbackInterval` a follower applies again, waiting four times `responseTime` for an answer.
 *
 * Unlike broadcast-channel's, `die()` stops every timer at once (a Deno script ends when its sessions close, not a
 * fallback interval later), and an election round never runs twice at the same time.
 *
 * Without a lock, two leaders remain possible when messages take longer than `responseTime` (a machine under heavy
 * load); each then refreshes on its own, so the worst case is one extra token request per refresh.
 */
function messageElection(channel: ElectionChannel, options: LeaderElectionOptions | undefined): Elector {
  const bus = channel as unknown as Channel;
  const responseTime = options?.responseTime ?? 150;
  const fallbackInterval = options?.fallbackInterval ?? 3_000;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  /** Another context told us it leads, and has not said `death` since. */
  let otherLeads = false;
  /** The round under way, if any: one at a time. */
  let round: Promise<boolean> | undefined;
  /** Ends the round under way as lost (a leader answered, or a context with a higher token applies). */
  let lose: (() => void) | undefined;
  let leadership: Promise<void> | undefined;
  let becomeLeader: (() => void) | undefined;
  let death: Promise<void> | undefined;

  const send = (action: ElectionMessage['action']): Promise<void> =>
    bus.postInternal({ context: 'leader', action, token: elector.token }).catch(() => undefined);

  /** Resolves after `ms`, unless `die()` comes first (then never: nothing waits on a dead election). */
  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const apply = (background: boolean): Promise<boolean> => {
    if (elector.isLeader || elector.isDead) return Promise.resolve(elector.isLeader);
    round ??= (async () => {
      let lost = false;
      const stopped = new Promise<void>((resolve) => {
        lose = () => {
          lost = true;
          resolve();
        };
      });
      // In the background nobody waits: give the others more time to answer, so a duplicate leader is less likely.
      const answerTime = background ? responseTime * 4 : responseTime;
      // Twice: a context that started listening just after the first `apply` hears the second.
      for (let attempt = 0; attempt < 2 && !lost && !elector.isDead; attempt++) {
        await send('apply');
        await Promise.race([wait(answerTime), stopped]);
      }
      lose = undefined;
      if (lost || elector.isDead) return false;
      elector.isLeader = true;
      void send('tell');
      becomeLeader?.();
      return true;
    })().finally(() => {
      round = undefined;
    });
    return round;
  };

  const listener = (message: ElectionMessage): void => {
    if (message?.context !== 'leader' || message.token === elector.token || elector.isDead) return;
    switch (message.action) {
      case 'apply':
        if (elector.isLeader) void send('tell');
        else if (message.token > elector.token) lose?.();
        return;
      case 'tell':
        otherLeads = true;
        lose?.();
        return;
      case 'death':
        otherLeads = false;
        // The leader closed: take over at once rather than at the next fallback round.
        if (becomeLeader !== undefined) void apply(false);
        return;
    }
  };
  bus.addEventListener('internal', listener);

  /** Applies again every `fallbackInterval` until this context leads or dies. */
  const fallback = (): void => {
    void wait(fallbackInterval).then(async () => {
      if (elector.isLeader || elector.isDead) return;
      if (!(await apply(true))) fallback();
    });
  };

  const elector: Elector = {
    broadcastChannel: channel,
    isLeader: false,
    isDead: false,
    token: randomToken(),
    hasLeader: () => Promise.resolve(elector.isLeader || otherLeads),
    awaitLeadership(): Promise<void> {
      leadership ??= new Promise<void>((resolve) => {
        becomeLeader = resolve;
        void apply(false);
        fallback();
      });
      return leadership;
    },
    die(): Promise<void> {
      if (death !== undefined) return death;
      const wasLeader = elector.isLeader;
      elector.isDead = true;
      elector.isLeader = false;
      bus.removeEventListener('internal', listener);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      lose?.();
      // Only a leader's death matters to the others (broadcast-channel's followers announce theirs too, which makes
      // every other follower apply for nothing).
      death = wasLeader ? send('death') : Promise.resolve();
      return death;
    },
  };
  return elector;
}

/** A random election token (not a secret: it only orders contexts that apply together). */
function randomToken(): string {
  const uuid = globalThis.crypto?.randomUUID?.();
  return uuid ?? `${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
}
