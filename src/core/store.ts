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

// setTimeout overflows past 2^31-1 ms and fires at once.
const MAX_TIMER = 2_147_483_647;

/**
 * The Svelte store contract over a session: `listener` gets the current snapshot at once (a throw there reaches the
 * caller, as with Svelte's own stores), then each new one when `watch`'s events say the state may have changed (the
 * session's emitter isolates a listener that throws then), or when the token it was last shown runs out (no event
 * says so: a snapshot a listener holds never shows an expired token for long). Never called once unsubscribed, even
 * by a notification under way. Returns the unsubscribe.
 */
export function subscribeTo<User>(
  getSnapshot: () => SessionSnapshot<User>,
  watch: (changed: () => void) => () => void,
  listener: SnapshotListener<User>,
  handle: { readonly now: () => number; readonly closed: () => boolean },
): () => void {
  let last = getSnapshot();
  let active = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const expiresAt = last.token?.expiresAt;
    if (!active || expiresAt === undefined || handle.closed()) return;
    timer = setTimeout(() => {
      timer = undefined;
      try {
        changed();
        // Early (a clock slower than the timers, or the longest timer ran out first): look again later.
        if (timer === undefined) expiry();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }, Math.min(MAX_TIMER, Math.max(0, expiresAt - handle.now()) + 1));
    (timer as { unref?: () => void }).unref?.();
  };
  const changed = (): void => {
    // Its listeners go with the handle's `close()`, and this one with the unsubscribe, even mid-notification.
    if (!active || handle.closed()) return;
    const next = getSnapshot();
    if (next === last) return;
    last = next;
    expiry();
    listener(next);
  };
  listener(last);
  const unwatch = watch(changed);
  expiry();
  return () => {
    active = false;
    expiry();
    unwatch();
  };
}

/** The token of a snapshot: the one held now, unless it has expired (a snapshot never shows an expired token). */
export function liveToken(token: Token | undefined, now: number): Token | undefined {
  return token !== undefined && token.expiresAt > now ? token : undefined;
}
