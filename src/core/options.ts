import type { Clock } from './clock.js';
import type { DPoPOptions } from './dpop.js';
import type { TokenProvider } from '../providers/provider.js';
import type { Sharing } from '../sharing/sharing.js';

/** What `createSession` takes. Only `provider` is required. */
export interface SessionOptions {
  /** Gets tokens for one credential: `clientCredentials(…)`, `refreshTokenGrant(…)`, `customProvider(…)`, `staticToken(…)`. */
  readonly provider: TokenProvider;
  /**
   * Refresh a token this long (ms) before it expires. Clamped to half the lifetime of short-lived tokens.
   * Default 120 000 (2 min), as sentinelhub-py does.
   */
  readonly refreshBeforeExpiry?: number | undefined;
  /** How the token is shared with other contexts. Default: the best transport for the runtime. */
  readonly sharing?: Sharing | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
  /** The fetch used for token requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Aborting it closes this session (as `close()` does). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Sender-constrained tokens, DPoP (RFC 9449): every token request carries a proof signed with a non-extractable
   * key, the token is bound to that key (`tokenType: 'DPoP'`), and `createClient`/`fetchWithToken` send a fresh
   * proof with every request. `true`: a key generated for this process; `{ key }`: the app's key (needed by fleets
   * that share tokens). Default: off (Bearer). The DPoP code is loaded only by sessions that set it.
   */
  readonly dpop?: boolean | DPoPOptions | undefined;
}

/** Per-call options of `getToken`. */
export interface GetTokenOptions {
  /** Get a new token even if the current one is still fresh (once for all concurrent callers). */
  readonly forceRefresh?: boolean | undefined;
  /** The token must stay valid for at least this long (ms) after it is returned. Default 0. */
  readonly minValidity?: number | undefined;
  /**
   * An access token an API rejected (401). It is never returned again; all callers that report the same token
   * share one refresh.
   */
  readonly rejected?: string | undefined;
  /** Rejects this call (not the shared request) with `aborted` when aborted. */
  readonly signal?: AbortSignal | undefined;
}

export const DEFAULT_REFRESH_BEFORE_EXPIRY = 120_000;
