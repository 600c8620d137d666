/**
 * `shared-session/oidc`: sign users in with the authorization code flow and PKCE (OpenID Connect, on oauth4webapi),
 * once for every tab, worker and service worker of the origin, with one rotation-safe refresh for all of them.
 * `oidcSession` for apps; `oidcProvider` for apps that compose their own session with `createSession`.
 *
 * @packageDocumentation
 */
export { oidcSession } from './oidc/session.js';
export type {
  OidcSession,
  OidcSessionEvents,
  OidcSessionOptions,
  SignInCallbackResult,
  SignInOptions,
  SignOutOptions,
} from './oidc/options.js';
export { oidcProvider, type OidcProvider, type OidcProviderOptions } from './oidc/provider.js';
export type { UserClaims } from './oidc/user.js';
