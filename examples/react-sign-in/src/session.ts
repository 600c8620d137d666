import { oidcSession, type OidcSession } from 'shared-session/oidc';

/**
 * Makes the app's session. Given to `<SessionProvider session={makeSession}>` as a function, it is made in an effect
 * and closed on unmount (StrictMode mounts, unmounts and mounts again: the sign-in survives that), never on a server.
 */
export function makeSession(): OidcSession {
  const session = oidcSession({
    issuer: import.meta.env.VITE_OIDC_ISSUER,
    clientId: import.meta.env.VITE_OIDC_CLIENT_ID,
    // Registered with the client at the provider; the route below completes the sign-in.
    redirectUri: `${location.origin}/callback`,
    scope: 'openid offline_access profile email api',
  });
  // Listeners before the sign-in completes: `error` tells why a sign-in or a refresh failed.
  session.on('error', (error) => console.error('session error', error.code, error.message));
  return session;
}

export const apiUrl: string = import.meta.env.VITE_API_URL;
