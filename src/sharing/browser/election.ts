import type { BroadcastChannel as ElectionChannel, LeaderElector } from 'broadcast-channel';
// broadcast-channel's election; in Deno, lock-election.ts (see package.json `imports`).
import { createLeaderElection } from '#leader-election';
import { lockElection } from './lock-election.js';

/** What broadcast-channel's leader election sends between contexts. */
export interface ElectionMessage {
  readonly context: 'leader';
  readonly action: 'apply' | 'tell' | 'death';
  readonly token: string;
}

/** One credential's leader election in this context. */
export interface Election {
  readonly elector: LeaderElector;
  /** Hands the election a message that arrived on the credential's channel. */
  deliver(message: ElectionMessage): void;
}

/**
 * Runs a leader election over our own native BroadcastChannel, through `send` and `deliver`: with Web Locks, the lock
 * election of lock-election.ts (broadcast-channel's lock and contract, without its `unload` listener); without them,
 * broadcast-channel's `createLeaderElection` (its message election).
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
  };
  // With Web Locks, our own election on broadcast-channel's lock (lock-election.ts): its own leader adds an `unload`
  // listener that keeps the page out of the back/forward cache. responseTime given, so that the message election
  // never asks the channel's method for its average latency.
  const elector =
    globalThis.navigator?.locks === undefined
      ? createLeaderElection(channel as unknown as ElectionChannel, { responseTime: 150, fallbackInterval: 3000 })
      : lockElection(channel as unknown as ElectionChannel);
  return {
    elector,
    deliver(message) {
      for (const listener of [...listeners]) listener(message);
    },
  };
}
