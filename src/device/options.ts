import type { Token } from '../core/token.js';
import type { Session } from '../core/session.js';
import type { Sharing } from '../sharing/sharing.js';

/** What `onPrompt` shows the person: where to go and the code to type there (RFC 8628 §3.3). */
export interface DevicePrompt {
  /** The page where the person types `userCode` (`verification_uri`). */
  readonly verificationUri: string;
  /** The same page with the code filled in (`verification_uri_complete`), when the provider sends one: show it (a QR code). */
  readonly verificationUriComplete?: string | undefined;
  /** The code the person types (`user_code`): short-lived, shown to them only. */
  readonly userCode: string;
  /** Epoch ms after which the code no longer works (`expires_in`): the sign-in fails with `expired_token` then. */
  readonly expiresAt: number;
}

/**
 * Where the refresh token is kept between runs: the OS keychain (`@napi-rs/keyring`, loaded only then), a file in the
 * user's configuration directory (`'file'`, the default), a file of your choice, or nowhere (`false`: memory only).
 */
export type DeviceTokenStore = 'keychain' | 'file' | { readonly path: string } | false;

/** What `deviceSignIn` takes. */
export interface DeviceSignInOptions {
  /** The OpenID provider's issuer (`https:`; `http:` only on a loopback host). Its metadata must list a `device_authorization_endpoint`. */
  readonly issuer: string;
  /** The public client's id (a device-flow client: no secret). */
  readonly clientId: string;
  /** Space-separated scopes. Default `openid offline_access` (without `offline_access` most providers issue no refresh token). */
  readonly scope?: string | undefined;
  /**
   * Sends a PKCE challenge (RFC 7636, S256) with the device authorization and its verifier with every poll, for
   * providers that require it of the client (openEO's `device_code+pkce` default clients). Default false.
   */
  readonly pkce?: boolean | undefined;
  /**
   * Shows the person where to sign in. Called once per device authorization, in the process whose `signIn()` started
   * it (the leader runs the flow for every process and sends the prompt there). Default: prints the prompt to stderr.
   */
  readonly onPrompt?: ((prompt: DevicePrompt) => void) | undefined;
  /** Where the refresh token is kept between runs. Default `'file'`. */
  readonly store?: DeviceTokenStore | undefined;
  /** How the session is shared between processes. Default `localSharing()` (every process of this user on this machine). */
  readonly sharing?: Sharing | undefined;
  /** The longest wait for one answer of the provider (ms): discovery, device authorization, each poll, refresh, revocation. Default 10 000. */
  readonly timeout?: number | undefined;
  /** The fetch used for the provider's endpoints. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Refresh a token this long (ms) before it expires. Default 120 000 (clamped to half a short token's life). */
  readonly refreshBeforeExpiry?: number | undefined;
}

/** Per-call options of `DeviceSession.signIn`. */
export interface DeviceSignInCallOptions {
  /** Ends the wait (and the polling, when this process polls) with `aborted`. */
  readonly signal?: AbortSignal | undefined;
}

/** The session of `deviceSignIn`: a `Session` that a person signs in to with the device flow, once for every process. */
export interface DeviceSession extends Session {
  /**
   * Resolves with a token once the person is signed in: at once when a stored refresh token (or another process)
   * already has one; otherwise after the device authorization — which one process runs for all that ask at the same
   * time (the others wait for it, bounded by the device code's lifetime). Fails with `access_denied`,
   * `expired_token`, `aborted` or the provider's error.
   */
  signIn(options?: DeviceSignInCallOptions): Promise<Token>;
  /**
   * Signs out everywhere: revokes the refresh token at the provider (when it has a revocation endpoint), deletes the
   * stored one, and drops the token in every process that shares the session.
   */
  signOut(): Promise<void>;
}
