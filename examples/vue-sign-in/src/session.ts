import { onScopeDispose, shallowRef, type ShallowRef } from 'vue';
import { oidcSession } from 'shared-session/oidc';
import type { SessionSnapshot } from 'shared-session';
import type { UserClaims } from 'shared-session/oidc';

/** One session for the app: every tab's sign-in and sign-out reach it. */
export const session = oidcSession({
  issuer: import.meta.env.VITE_OIDC_ISSUER,
  clientId: import.meta.env.VITE_OIDC_CLIENT_ID,
  // Registered with the client at the provider; the route `/callback` completes the sign-in.
  redirectUri: `${location.origin}/callback`,
  scope: 'openid offline_access profile email api',
});
// Listeners before the sign-in completes: `error` tells why a sign-in or a refresh failed.
session.on('error', (error) => console.error('session error', error.code, error.message));

export const apiUrl: string = import.meta.env.VITE_API_URL;

/** `{ signedIn, user, token? }` as a Vue ref, following the session's store until the component goes. */
export function useSession(): Readonly<ShallowRef<SessionSnapshot<UserClaims>>> {
  const snapshot = shallowRef(session.getSnapshot());
  onScopeDispose(session.subscribe((next) => (snapshot.value = next)));
  return snapshot;
}
