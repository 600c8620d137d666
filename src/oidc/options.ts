import { SessionError } from '../core/errors.js';
import type { SessionOptions } from '../core/options.js';
import type { Session } from '../core/session.js';
import type { SessionEvents } from '../core/session-core.js';
import type { OidcProviderOptions } from './provider.js';
import type { UserClaims } from './user.js';
import type { SessionSnapshot, SnapshotListener } from '../core/store.js';

/**
 * What `oidcSession` takes: the provider's options (`issuer` and `clientId` required), the session's (`sharing`,
 * `clock`, `fetch`, `signal`, `refreshBeforeExpiry`), and where the browser comes back. `redirectUri` is required
 * where users sign in.
 */
export interface OidcSessionOptions extends OidcProviderOptions, Omit<SessionOptions, 'provider' | 'dpop'> {
  /**
   * Where the provider sends the browser back, registered with the client: an absolute `https:` (or `http:`) URL,
   * e.g. `https://app.example/callback` or the app's own page. The page there creates the same `oidcSession`; its
   * `ready` completes the sign-in. Required to sign in; not needed in workers.
   */
  readonly redirectUri?: string | undefined;
  /** Where the provider's logout sends the browser back (registered with the client), absolute. Default: none (the provider's page). */
  readonly postLogoutRedirectUri?: string | undefined;
}

/** Options of `signIn`. */
export interface SignInOptions {
  /** Sign in in a popup instead of a full-page redirect. Default false. */
  readonly popup?: boolean | undefined;
  /** Same-origin path to show after the redirect back. Default: the current page (path, search and hash). */
  readonly returnTo?: string | undefined;
  /**
   * Extra authorization request parameters for this sign-in, over the session's `authorizationParams`: only those of
   * the login page (`prompt`, `login_hint`, `ui_locales`…); one that changes the token is `invalid_options`.
   */
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
  /**
   * The app's own state (structured-cloneable, e.g. a router location), kept in this browser with the sign-in and
   * given back by `ready` on the redirect page. Never sent to the provider. Default none.
   */
  readonly state?: unknown;
}

/** What `ready` brings back from the callback of a sign-in completed on this page. */
export interface SignInCallbackResult {
  /** The same-origin path the sign-in was to return to (the URL shows it already). */
  readonly returnTo: string;
  /** What the app passed to `signIn` as `state`, if anything. */
  readonly state?: unknown;
}

/** Options of `signOut`. */
export interface SignOutOptions {
  /** Go to the provider's `end_session_endpoint` afterwards (RP-initiated logout), in a window. Default true. */
  readonly redirect?: boolean | undefined;
}

/** The events of an `oidcSession`: every event of a `Session`, and these. */
export interface OidcSessionEvents extends SessionEvents {
  /** Someone signed in, in this context or another: `user` holds the ID token's claims. */
  'signed-in': (user: UserClaims) => void;
  /** The sign-in ended here: `signOut()` or `clear()` in any context, or the refresh token stopped working. */
  'signed-out': () => void;
  /**
   * A refresh brought a new ID token for the signed-in user (same `sub`; e.g. a changed `name`), in any context:
   * `user` holds its claims, as `session.user` does from now on.
   */
  'user-updated': (user: UserClaims) => void;
}

/** A `Session` that signs users in: everything `createSession` gives, and the sign-in. */
export interface OidcSession extends Session {
  /**
   * Completes a sign-in whose callback is in the URL (and cleans the URL), else restores the shared sign-in. Resolves
   * with the callback's `{ returnTo, state }` when this page completed a sign-in, else nothing (undefined); `signedIn` and
   * `user` already say who signed in. Rejects with the callback's error (`invalid_state`, `access_denied`…); then the
   * session is signed out, and usable. Every handle of one credential on the page settles alike.
   */
  readonly ready: Promise<SignInCallbackResult | void>;
  /** Whether a user is signed in, in this context (the same in every context, a message later). */
  readonly signedIn: boolean;
  /** The signed-in user's ID token claims (`sub`, `name`, `email`…), or undefined. */
  readonly user: UserClaims | undefined;
  /**
   * Signs the user in: a full-page redirect to the provider (the returned promise never settles: the page goes
   * away), or a popup (resolves when every context is signed in). In workers it rejects with `unsupported_context`.
   */
  signIn(options?: SignInOptions): Promise<void>;
  /**
   * Signs out every context at once, revokes the refresh token where the provider offers revocation, then goes to the
   * provider's `end_session_endpoint` (with `id_token_hint`, `client_id`, `post_logout_redirect_uri`) in a window.
   */
  signOut(options?: SignOutOptions): Promise<void>;
  on<E extends keyof OidcSessionEvents>(event: E, listener: OidcSessionEvents[E]): () => void;
  /** As `Session.subscribe`, with who signed in: `{ signedIn, user, token? }`, from any tab's sign-in or sign-out. */
  subscribe(listener: SnapshotListener<UserClaims>): () => void;
  /** As `Session.getSnapshot`: `signedIn` and `user` as the properties say, the token held now while signed in. */
  getSnapshot(): SessionSnapshot<UserClaims>;
}

/** Checks what the provider does not: the URIs the browser is sent back to must be absolute web URLs. */
export function checkSessionOptions(options: OidcSessionOptions): void {
  for (const name of ['redirectUri', 'postLogoutRedirectUri'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new SessionError('invalid_options', `${name} must be an absolute http: or https: URL (e.g. \`\${location.origin}/callback\`)`);
    }
  }
}
