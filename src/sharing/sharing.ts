import type { Clock } from '../core/clock.js';
import type { SessionError } from '../core/errors.js';
import type { Token, TokenSet } from '../core/token.js';
import type { SignInPrompt } from '../core/prompt.js';

/**
 * What a session gives a transport when it connects: its key, its freshness rules and the one function that
 * calls the token endpoint. A transport decides *where* that function runs; the session decides *when* a token is
 * good enough.
 */
export interface SharingPeer {
  /** The credential key. Public parts only; never a secret. */
  readonly key: string;
  /** True when the provider needs its refresh token after a failover (a transport stores it only where safe). */
  readonly usesRefreshToken: boolean;
  /** The provider's `initialRefreshTokenDigest`: which refresh token its chain starts from, as a digest. */
  readonly initialRefreshTokenDigest?: string | undefined;
  /** True when a token issued after a sign-out ends it (a sign-in elsewhere: `TokenProvider.signsIn`). */
  readonly signsIn?: boolean | undefined;
  /** The session's clock, so that a transport's timestamps compare with `Token.issuedAt`. */
  readonly clock: Clock;
  /** Whether `token` is good enough to hand out now (not stale, not the `rejected` one). */
  isUsable(token: Token, rejected?: string): boolean;
  /**
   * Calls the token endpoint. The transport guarantees that one context at a time does, per key. `signIn`: this is
   * the fetch of `SharedLink.obtainHere` (a sign-in), not a refresh; `onPrompt`: where the sign-in shows the person
   * its code (the context that asked for it).
   */
  fetchToken(refreshToken?: string, signIn?: boolean, onPrompt?: (prompt: SignInPrompt) => void): Promise<TokenSet>;
  /** Another context made `token` current. Returns false when it is older than what this context holds. */
  receiveToken(token: Token): boolean;
  /**
   * Another context signed out (at `at`, epoch ms, when the transport knows it): drops the token and aborts a
   * renewal in progress here. Only a token issued after `at` ends a sign-out for a provider that `signsIn`.
   */
  receiveClear(at?: number): void;
  /** This context started or stopped being the one that refreshes ahead of expiry. */
  leadershipChanged(leading: boolean): void;
  /** Something the app should know about that failed no call: bad messages, corrupt storage, lost features. */
  report(error: SessionError): void;
}

/** One session's connection to a transport. */
export interface SharedLink {
  /** True when this context should refresh ahead of expiry (the leader, or every context of a local transport). */
  readonly leading: boolean;
  /** The token last made current by any context, if the transport keeps one. */
  load(): Promise<TokenSet | undefined>;
  /**
   * A usable token, fetched by exactly one context for all that ask at the same time. `rejected` is an access token
   * that must not be returned again (an API refused it, or the caller forced a refresh).
   */
  obtain(rejected?: string): Promise<TokenSet>;
  /**
   * A token fetched in this context — under the lock that keeps token requests one at a time, never by asking
   * another context — and shared like every fetched token. For a sign-in, whose input (an authorization code and
   * its verifier) exists only here; the refresh token of an earlier grant is not handed to the provider. Transports
   * without it cannot carry a sign-in.
   */
  obtainHere?(onPrompt?: (prompt: SignInPrompt) => void): Promise<TokenSet>;
  /** Drops the token here and in every other context. */
  clear(): Promise<void>;
  /**
   * Set while the transport catches up with what it may have missed (a page restored from the back/forward cache
   * reads storage again): the session waits for it before it hands out the token it holds.
   */
  readonly catchingUp?: Promise<void> | undefined;
  /** Releases channels, locks and handles. */
  close(): Promise<void>;
}

/** A way of sharing one token between contexts: memory, browser, Durable Object, Redis… */
export interface Sharing {
  /** Short name, for events and debugging. */
  readonly kind: string;
  /**
   * Whether the token goes to other processes or isolates (Redis, a Durable Object, Deno KV, local sharing), which
   * cannot sign with a DPoP key generated in this one: such a transport needs `dpop: { key }`, the same key for every
   * member. Default false (one process: memory; the browser's contexts share the origin's key).
   */
  readonly acrossProcesses?: boolean | undefined;
  connect(peer: SharingPeer): SharedLink;
}
