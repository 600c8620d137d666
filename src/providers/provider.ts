import type { Clock } from '../core/clock.js';
import type { SessionDPoP } from '../core/dpop.js';
import type { SignInPrompt } from '../core/prompt.js';
import type { TokenSet } from '../core/token.js';

/** What the session hands a provider for one token request. */
export interface FetchTokenContext {
  readonly signal: AbortSignal;
  /** The fetch to call the token endpoint with: the session's `fetch` option, else `globalThis.fetch`. */
  readonly fetch: typeof globalThis.fetch;
  readonly clock: Clock;
  /**
   * The newest refresh token the session knows of (from this context or shared storage), for grants that rotate
   * refresh tokens: after a failover the new leader must continue with the token the old leader received.
   */
  readonly refreshToken?: string | undefined;
  /**
   * True for the fetch of a sign-in (`shared-session/oidc`): the provider starts a new grant from what the sign-in
   * left in this context (an authorization code), and no refresh token is given.
   */
  readonly signIn?: boolean | undefined;
  /**
   * With `signIn`: where to show the person what the sign-in needs them to see — the context whose `signIn()` started
   * it, which may not be the one running it. Undefined: the provider's own (its `onPrompt` option).
   */
  readonly onPrompt?: ((prompt: SignInPrompt) => void) | undefined;
  /**
   * The session's DPoP (RFC 9449), when it was created with `dpop`: every attempt of a token request carries a fresh
   * proof, a `use_dpop_nonce` challenge is answered once, and the answer must be a `DPoP` token (see `requestToken`).
   */
  readonly dpop?: SessionDPoP | undefined;
}

/**
 * A provider knows how to get a token for one credential; it knows nothing about sharing.
 * Providers are plain objects so that apps can write their own (see `customProvider`).
 */
export interface TokenProvider {
  /**
   * Identifies the credential: sessions with the same key share one token. Never contains a secret in clear.
   */
  readonly key: string;
  /** False for a provider that can never get a new token (a static token). */
  readonly canRefresh: boolean;
  /** True when `TokenSet.refreshToken` must be kept (and may be stored) so that another context can continue. */
  readonly usesRefreshToken: boolean;
  /**
   * For a provider that starts a refresh-token chain from a refresh token it was given (`refreshTokenGrant`): a
   * digest of that token (`hashKey`), never the token. A transport that keeps the chain for several processes
   * remembers the starts of the chains that ended, so that a brand-new process does not send a spent initial token
   * again, while a new initial token starts a new chain.
   */
  readonly initialRefreshTokenDigest?: string | undefined;
  /**
   * True for a grant that a user starts by signing in (`shared-session/oidc`): after a sign-out, a token issued
   * later — by a new sign-in, in any context that shares the session — makes the session usable again, where a
   * provider without it stays `login_required`. Default false.
   */
  readonly signsIn?: boolean | undefined;
  fetchToken(context: FetchTokenContext): Promise<TokenSet>;
}
