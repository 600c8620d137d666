/**
 * `shared-session/oidc`: sign users in with the authorization code flow and PKCE (OpenID Connect, on oauth4webapi),
 * once for every tab, worker and service worker of the origin, with one rotation-safe refresh for all of them.
 * `oidcSession` for apps; `oidcProvider` for apps that compose their own session with `createSession`.
 *
 * @packageDocumentation
 */
export {
  oidcSession,
  type OidcSession,
  type OidcSessionEvents,
  type OidcSessionOptions,
  type SignInOptions,
  type SignOutOptions,
} from './oidc/session.js';
export { oidcProvider, type OidcProvider, type OidcProviderOptions, type UserClaims } from './oidc/provider.js';
