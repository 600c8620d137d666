import type { Clock } from './clock.js';
import type { TokenProvider } from './providers/provider.js';
import type { Sharing } from './sharing/sharing.js';

/** What `createSession` takes. Only `provider` is required. */
export interface SessionOptions {
  /** Gets tokens for one credential: `clientCredentials(…)`, `refreshTokenGrant(…)`, `customProvider(…)`, `staticToken(…)`. */
  readonly provider: TokenProvider;
  /**
   * Refresh a token this long (ms) before it expires. Clamped to half the lifetime of short-lived tokens.
   * Default 120 000 (2 min), as sentinelhub-py does.
   */
  readonly refreshBeforeExpiry?: number;
  /** How the token is shared with other contexts. Default: the best transport for the runtime. */
  readonly sharing?: Sharing;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock;
  /** The fetch used for token requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Aborting it closes this session (as `close()` does). */
  readonly signal?: AbortSignal;
}

/** Per-call options of `getToken`. */
export interface GetTokenOptions {
  /** Get a new token even if the current one is still fresh (once for all concurrent callers). */
  readonly forceRefresh?: boolean;
  /** The token must stay valid for at least this long (ms) after it is returned. Default 0. */
  readonly minValidity?: number;
  /**
   * An access token an API rejected (401). It is never returned again; all callers that report the same token
   * share one refresh.
   */
  readonly rejected?: string;
  /** Rejects this call (not the shared request) with `aborted` when aborted. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_REFRESH_BEFORE_EXPIRY = 120_000;
