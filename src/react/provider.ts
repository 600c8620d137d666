import { createElement, useEffect, useRef, useState, type ReactNode } from 'react';
import type { Session } from '../core/session.js';
import { SessionContext } from './context.js';

/** Props of `SessionProvider`. */
export interface SessionProviderProps {
  /**
   * The session the components below use: a session made once for the app (e.g. at module level), or a function
   * that makes one. A function is called in an effect, in the browser only (never in a server render), once per
   * mount, and the session it made is closed on unmount: under StrictMode, mounted → closed → made again, as React
   * asks of every effect. Only the first function given is used.
   */
  readonly session: Session | (() => Session);
  readonly children?: ReactNode;
}

/**
 * Makes a session available to `useSession`, `useSignedIn`, `useUser` and `useToken` below it.
 *
 * @example
 * const session = oidcSession({ issuer, clientId, redirectUri: `${location.origin}/callback` });
 * createRoot(root).render(<SessionProvider session={session}><App /></SessionProvider>);
 */
export function SessionProvider({ session, children }: SessionProviderProps): ReactNode {
  // The first factory only: an inline arrow is a new function on every render, and must not make a session each time.
  const factory = useRef(typeof session === 'function' ? session : undefined).current;
  const [created, setCreated] = useState<Session | undefined>(undefined);
  useEffect(() => {
    if (factory === undefined) return undefined;
    const made = factory();
    setCreated(made);
    return () => {
      setCreated(undefined);
      void made.close().catch(() => undefined);
    };
  }, [factory]);
  const value = factory === undefined ? (session as Session) : created;
  return createElement(SessionContext.Provider, { value }, children);
}
