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
 * The snapshot is derived from the session's state on each read, so it is right even when nobody subscribes; events
 * (watched only while someone listens) only say when to read again.
 */
export class SessionStore<User> {
  readonly #read: () => SnapshotParts<User>;
  readonly #watch: (changed: () => void) => () => void;
  readonly #listeners = new Set<SnapshotListener<User>>();
  #unwatch: (() => void) | undefined;
  #snapshot: SessionSnapshot<User> = Object.freeze({ signedIn: false, user: undefined });

  constructor(read: () => SnapshotParts<User>, watch: (changed: () => void) => () => void) {
    this.#read = read;
    this.#watch = watch;
  }

  getSnapshot(): SessionSnapshot<User> {
    const { signedIn, user, token } = this.#read();
    const previous = this.#snapshot;
    if (previous.signedIn === signedIn && previous.user === user && previous.token === token) return previous;
    this.#snapshot = Object.freeze(token === undefined ? { signedIn, user } : { signedIn, user, token });
    return this.#snapshot;
  }

  subscribe(listener: SnapshotListener<User>): () => void {
    // Watching first: a change it finds on the way reaches the listeners already there, and this one once, below.
    if (this.#unwatch === undefined) this.#unwatch = this.#watch(() => this.#changed());
    this.#listeners.add(listener);
    call(listener, this.getSnapshot());
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0 || this.#unwatch === undefined) return;
      this.#unwatch();
      this.#unwatch = undefined;
    };
  }

  /** Stops watching the session (it was closed); listeners keep their unsubscribe, which still works. */
  close(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#listeners.clear();
  }

  #changed(): void {
    const before = this.#snapshot;
    const snapshot = this.getSnapshot();
    if (snapshot === before) return;
    for (const listener of [...this.#listeners]) call(listener, snapshot);
  }
}

/** A listener's failure is the app's bug: surfaced, without stopping the other listeners. */
function call<User>(listener: SnapshotListener<User>, snapshot: SessionSnapshot<User>): void {
  try {
    listener(snapshot);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** The token of a snapshot: the one held now, unless it has expired (a snapshot never shows an expired token). */
export function liveToken(token: Token | undefined, now: number): Token | undefined {
  return token !== undefined && token.expiresAt > now ? token : undefined;
}
