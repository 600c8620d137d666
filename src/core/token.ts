/** An access token as the session hands it out. */
export interface Token {
  readonly accessToken: string;
  /** As the server sent it, with `bearer` normalised to `Bearer`. */
  readonly tokenType: string;
  /** Epoch ms after which the token must not be used. Computed from the time the request was *sent*. */
  readonly expiresAt: number;
  /** Epoch ms at which the token request was sent. */
  readonly issuedAt: number;
  readonly scope?: string | undefined;
}

/**
 * What a provider returns and what sharing stores: the token, plus the refresh token when the grant has one.
 * The refresh token never leaves the context that fetched it except into storage a transport declares safe for it.
 */
export interface TokenSet {
  readonly token: Token;
  readonly refreshToken?: string;
}

/** What a caller of `getToken` needs from a token. */
export interface Freshness {
  /** The session's refresh margin (ms); clamped to half the token lifetime for short-lived tokens. */
  readonly refreshBeforeExpiry: number;
  /** The token must stay valid at least this long (ms) after it is returned. */
  readonly minValidity?: number | undefined;
  /** An access token an API rejected: never return it again. */
  readonly rejected?: string | undefined;
  /** The current access token when the caller forces a refresh: never returned to this call either. */
  readonly replaced?: string | undefined;
}

/**
 * The margin before expiry at which a token counts as stale. When the lifetime is shorter than twice the margin,
 * half the lifetime is used, so that a short-lived token is still used for a while before it is replaced.
 */
export function refreshMargin(token: Token, refreshBeforeExpiry: number): number {
  const lifetime = Math.max(0, token.expiresAt - token.issuedAt);
  return Math.min(refreshBeforeExpiry, lifetime / 2);
}

/** The moment (epoch ms) at which the token should be replaced. */
export function refreshAt(token: Token, refreshBeforeExpiry: number): number {
  return token.expiresAt - refreshMargin(token, refreshBeforeExpiry);
}

/** Whether `token` may be handed out at `now` to a caller with these needs. Checked on every read. */
export function isUsable(token: Token | undefined, now: number, need: Freshness): token is Token {
  if (token === undefined || token.accessToken === need.rejected) return false;
  if (token.expiresAt - now <= (need.minValidity ?? 0)) return false;
  return now < refreshAt(token, need.refreshBeforeExpiry);
}

/** Whether `token` has expired at `now` (however fresh or stale the caller needs it: expired is never usable). */
export function isExpired(token: Token, now: number): boolean {
  return token.expiresAt <= now;
}

/**
 * `token` with its timestamps bounded by the receiver's clock, for every token read from a message or a record: a
 * token cannot have been requested in the future. A forged or skewed `issuedAt` ahead of `now` would otherwise make
 * it "newer" than every token the endpoint will ever issue, so it could never be replaced. The lifetime is kept
 * (`expiresAt - issuedAt`), never lengthened.
 */
export function boundedByClock(token: Token, now: number): Token {
  if (token.issuedAt <= now) return token;
  return { ...token, issuedAt: now, expiresAt: now + Math.max(0, token.expiresAt - token.issuedAt) };
}

/** Strictly newer: used to ignore stale messages and records. */
export function isNewer(candidate: Token, current: Token | undefined): boolean {
  return (
    current === undefined ||
    candidate.issuedAt > current.issuedAt ||
    (candidate.issuedAt === current.issuedAt && candidate.expiresAt > current.expiresAt)
  );
}
