import { useCallback, useContext, useEffect, useSyncExternalStore } from 'react';
import { SessionError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { SessionSnapshot } from '../core/store.js';
import type { Token } from '../core/token.js';
import type { UserClaims } from '../oidc/user.js';
import { SessionContext } from './context.js';

/** What every hook shows without a session: before a created one exists, and in a server render (no sign-in there). */
const SIGNED_OUT: SessionSnapshot<never> = Object.freeze({ signedIn: false, user: undefined });
const serverSnapshot = (): SessionSnapshot<never> => SIGNED_OUT;
const noSubscription = (): (() => void) => () => undefined;

/**
 * The session of the nearest `SessionProvider` (e.g. to call `signIn()`, `signOut()` or `getToken()`); `undefined`
 * while a session the provider makes does not exist yet. Type it as what the provider was given:
 * `useSession<OidcSession>()`. Throws `invalid_options` outside a provider.
 */
export function useSession<S extends Session = Session>(): S | undefined {
  const session = useContext(SessionContext);
  if (session === null) throw new SessionError('invalid_options', 'useSession needs a <SessionProvider> above the component');
  return session as S | undefined;
}

/**
 * The session's `{ signedIn, user, token? }`, re-rendering on every change in any tab (`useSyncExternalStore` over
 * `session.subscribe`/`getSnapshot`: no tearing under concurrent rendering). Signed out in a server render.
 */
export function useSessionSnapshot<User = UserClaims>(): SessionSnapshot<User> {
  const session = useSession();
  const subscribe = useCallback(
    (changed: () => void) => (session === undefined ? noSubscription() : session.subscribe(() => changed())),
    [session],
  );
  const snapshot = useSyncExternalStore(subscribe, () => session?.getSnapshot() ?? SIGNED_OUT, serverSnapshot);
  return snapshot as SessionSnapshot<User>;
}

/** Whether someone is signed in (`oidcSession`), or a token can be had (other sessions). False in a server render. */
export function useSignedIn(): boolean {
  return useSessionSnapshot().signedIn;
}

/** Who signed in: the ID token's claims (`sub`, `name`, `email`…), or undefined. */
export function useUser<User = UserClaims>(): User | undefined {
  return useSessionSnapshot<User>().user;
}

/**
 * The access token this context holds now (never an expired one), or undefined; follows every refresh in any tab.
 * While signed in without a token in memory, it asks the session for one (a failure reaches the `error` event).
 * For a request, `await session.getToken()` is still the way: it waits for a fresh token.
 */
export function useToken(): Token | undefined {
  const session = useSession();
  const { signedIn, token } = useSessionSnapshot();
  useEffect(() => {
    if (session !== undefined && signedIn && token === undefined) session.getToken().catch(() => undefined);
  }, [session, signedIn, token]);
  return token;
}
