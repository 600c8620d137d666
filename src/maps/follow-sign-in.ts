import type { Session } from '../core/session.js';

/**
 * Calls `changed` each time the session's `signedIn` flips: a sign-in or a sign-out in any tab. An `oidcSession`
 * is followed from its `ready` on (what its page loaded with is not a change); returns the function that stops.
 */
export function onSignInChange(session: Session, changed: (signedIn: boolean) => void): () => void {
  let stopped = false;
  let unsubscribe: (() => void) | undefined;
  const start = (): void => {
    if (stopped) return;
    let signedIn: boolean | undefined;
    unsubscribe = session.subscribe((snapshot) => {
      if (signedIn !== undefined && snapshot.signedIn !== signedIn) changed(snapshot.signedIn);
      signedIn = snapshot.signedIn;
    });
  };
  const { ready } = session as { ready?: unknown };
  if (ready instanceof Promise) ready.then(start, start);
  else start();
  return () => {
    stopped = true;
    unsubscribe?.();
  };
}
