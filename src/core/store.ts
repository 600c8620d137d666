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

/**
 * `previous` if it shows the same state, else a new frozen snapshot: a snapshot is derived from the session's state
 * on each read (so it is right even when nobody subscribes), and its identity changes only with that state.
 */
export function snapshotOf<User>(
  previous: SessionSnapshot<User> | undefined,
  signedIn: boolean,
  user: User | undefined,
  token: Token | undefined,
): SessionSnapshot<User> {
  if (previous?.signedIn === signedIn && previous.user === user && previous.token === token) return previous;
  return Object.freeze(token === undefined ? { signedIn, user } : { signedIn, user, token });
}

/**
 * The Svelte store contract over a session: `listener` gets the current snapshot at once (a throw there reaches the
 * caller, as with Svelte's own stores), then each new one when `watch`'s events say the state may have changed (the
 * session's emitter isolates a listener that throws then). Returns the unsubscribe.
 */
export function subscribeTo<User>(
  getSnapshot: () => SessionSnapshot<User>,
  watch: (changed: () => void) => () => void,
  listener: SnapshotListener<User>,
): () => void {
  let last = getSnapshot();
  listener(last);
  return watch(() => {
    const next = getSnapshot();
    if (next !== last) listener((last = next));
  });
}

/** The token of a snapshot: the one held now, unless it has expired (a snapshot never shows an expired token). */
export function liveToken(token: Token | undefined, now: number): Token | undefined {
  return token !== undefined && token.expiresAt > now ? token : undefined;
}
