import type { BroadcastChannel as ElectionChannel, LeaderElector } from 'broadcast-channel';
import { lockElection } from './lock-election.js';

/** What broadcast-channel's leader election sends between contexts. */
export interface ElectionMessage {
  readonly context: 'leader';
  readonly action: 'apply' | 'tell' | 'death';
  readonly token: string;
}

/** The part of broadcast-channel's `LeaderElector` that sharing.ts uses. */
export interface Elector {
  hasLeader(): Promise<boolean>;
  /** Settles when this context leads; never, once `die()` ran first. */
  awaitLeadership(): Promise<void>;
  /** Resigns (the message election says `death` as it starts) and leaves the election for good. */
  die(): Promise<void>;
}

/** One credential's leader election in this context. */
export interface Election {
  readonly elector: Elector;
  /** Hands the election a message that arrived on the credential's channel. */
  deliver(message: ElectionMessage): void;
}

/**
 * Runs a leader election over our own native BroadcastChannel, through `send` and `deliver`: with Web Locks, the lock
 * election of lock-election.ts (broadcast-channel's lock and contract, without its `unload` listener); without them,
 * broadcast-channel's `createLeaderElection` (its message election), loaded on demand (`messageElector`).
 *
 * Why not broadcast-channel's channel class: it bundles IndexedDB and localStorage polling transports that we never
 * use (we use the native channel or nothing), about 3 KB gzip of the 15 KB budget. The election only needs the small
 * channel contract below (broadcast-channel 7.4: `leader-election*.js`), which is why that dependency is pinned
 * to `~7.4` and exercised by the Chromium tests in both election modes. One elector per channel, as
 * broadcast-channel requires.
 */
export function createElection(name: string, send: (message: ElectionMessage) => void): Election {
  const listeners = new Set<(message: ElectionMessage) => void>();
  const channel = {
    name,
    // Part of the Web Lock's name ('pubkey-bc||native||<name>'), the same as with broadcast-channel's own channel.
    method: { type: 'native' },
    // Hooks broadcast-channel runs before its channel closes; our link calls `die()` itself.
    _befC: [] as Array<() => unknown>,
    postInternal(message: ElectionMessage): Promise<void> {
      send(message);
      return Promise.resolve();
    },
    addEventListener(_type: 'internal', listener: (message: ElectionMessage) => void): void {
      listeners.add(listener);
    },
    removeEventListener(_type: 'internal', listener: (message: ElectionMessage) => void): void {
      listeners.delete(listener);
    },
  } as unknown as ElectionChannel;
  // With Web Locks, our own election on broadcast-channel's lock (lock-election.ts): its own leader adds an `unload`
  // listener that keeps the page out of the back/forward cache.
  const elector = globalThis.navigator?.locks === undefined ? messageElector(channel) : lockElection(channel);
  return {
    elector,
    deliver(message) {
      for (const listener of [...listeners]) listener(message);
    },
  };
}

/** How long (ms) broadcast-channel's election waits for a leader's answer to an `apply` before this context leads. */
export const ELECTION_RESPONSE_TIME = 150;

/**
 * broadcast-channel's message election, imported only where Web Locks are missing (no current browser): a context
 * with them never downloads it, nor the `unload` package it brings. responseTime given, so that the election never
 * asks the channel's method for its average latency.
 *
 * Election messages that arrive while the module loads are not seen, as if this context had joined a moment later:
 * the protocol expects that (an `apply` is answered by the leader's `tell`; a missed `death` ends after
 * `fallbackInterval`). A `die()` before it loaded leaves no elector behind: this context never leads, its
 * `awaitLeadership()` stays pending.
 */
function messageElector(channel: ElectionChannel): Elector {
  let dead = false;
  let loaded: LeaderElector | undefined;
  // broadcast-channel's election; in Deno, lock-election.ts (see package.json `imports`).
  const loading = import('#leader-election').then(({ createLeaderElection }) => {
    if (!dead) loaded = createLeaderElection(channel, { responseTime: ELECTION_RESPONSE_TIME, fallbackInterval: 3000 });
    return loaded;
  });
  return {
    hasLeader: () => loading.then((elector) => elector?.hasLeader() ?? false),
    awaitLeadership: () => loading.then((elector) => elector?.awaitLeadership() ?? new Promise<void>(() => undefined)),
    die() {
      dead = true;
      return loaded?.die() ?? Promise.resolve();
    },
  };
}
