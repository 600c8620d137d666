import { Emitter } from './events.js';
import type { Token } from './token.js';

/**
 * What a session looks like to a UI, from `session.getSnapshot()`: the same object until something changes (as React's
 * `useSyncExternalStore` requires), frozen.
 */
export interface SessionSnapshot<User = unknown> {
  /** Whether a token can be had without a user signing in (for `oidcSession`: someone is signed in). */
  readonly signedIn: boolean;
  /** Who signed in (`oidcSession`: the ID token's claims); undefined when signed out, and for sessions without users. */
  readonly user: User | undefined;
  /** The token this context holds now, if it has one that has not expired. Not a request: `getToken()` gets one. */
  readonly token?: Token | undefined;
}

/** A listener of `session.subscribe`: called with the current snapshot at once, then after every change. */
export type SnapshotListener<User = unknown> = (snapshot: SessionSnapshot<User>) => void;

/** The parts a snapshot is made of, read from the session on each `getSnapshot()`. */
export interface SnapshotParts<User> {
  readonly signedIn: boolean;
  readonly user: User | undefined;
  readonly token: Token | undefined;
}

/**
 * A framework-neutral store over a session: `subscribe` follows the Svelte store contract (the listener gets the
 * current value at once; the return is the unsubscribe), `getSnapshot` React's (a stable object between changes).
 * The snapshot is derived from the session's state on each read, so it is right even when nobody subscribes; the
 * session's events (watched from the first `subscribe` until the handle closes) only say when to read again.
 */
export class SessionStore<User> {
  readonly #read: () => SnapshotParts<User>;
  readonly #watch: (changed: () => void) => void;
  // The emitter isolates listeners: one that throws is surfaced without keeping the others from hearing.
  readonly #listeners = new Emitter<{ change: SnapshotListener<User> }>();
  #watching = false;
  #snapshot: SessionSnapshot<User> = Object.freeze({ signedIn: false, user: undefined });

  constructor(read: () => SnapshotParts<User>, watch: (changed: () => void) => void) {
    this.#read = read;
    this.#watch = watch;
  }

  getSnapshot(): SessionSnapshot<User> {
    const { signedIn, user, token } = this.#read();
    const previous = this.#snapshot;
    if (previous.signedIn === signedIn && previous.user === user && previous.token === token) return previous;
    return (this.#snapshot = Object.freeze(token === undefined ? { signedIn, user } : { signedIn, user, token }));
  }

  subscribe(listener: SnapshotListener<User>): () => void {
    if (!this.#watching) {
      this.#watching = true;
      this.#watch(() => {
        const before = this.#snapshot;
        if (this.getSnapshot() !== before) this.#listeners.emit('change', this.#snapshot);
      });
    }
    const off = this.#listeners.on('change', listener);
    // Through the emitter too, alone: a listener that throws at once is surfaced the same way.
    const now = new Emitter<{ change: SnapshotListener<User> }>();
    now.on('change', listener);
    now.emit('change', this.getSnapshot());
    return off;
  }
}

/** The token of a snapshot: the one held now, unless it has expired (a snapshot never shows an expired token). */
export function liveToken(token: Token | undefined, now: number): Token | undefined {
  return token !== undefined && token.expiresAt > now ? token : undefined;
}
