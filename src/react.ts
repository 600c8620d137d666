/**
 * `shared-session/react`: a `SessionProvider` and hooks (`useSession`, `useSignedIn`, `useUser`, `useToken`) on
 * `useSyncExternalStore` over the session's own store (`subscribe` + `getSnapshot`): one render per change in any
 * tab, safe under StrictMode, concurrent rendering and server rendering (signed out there, no `window` touched).
 * React is an optional peer dependency.
 *
 * @packageDocumentation
 */
export { SessionProvider, type SessionProviderProps } from './react/provider.js';
export { useSession, useSessionSnapshot, useSignedIn, useToken, useUser } from './react/hooks.js';
export type { SessionSnapshot, SnapshotListener } from './core/store.js';
