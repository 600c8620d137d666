/** Every failure the SDK reports has one of these codes. Stable: match on `code`, not on `message`. */
export type ErrorCode =
  // OAuth 2.0 error responses from the token endpoint (RFC 6749 §5.2)
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  // Transport and protocol
  | 'invalid_response'
  | 'rate_limited'
  | 'endpoint_unavailable'
  | 'request_failed'
  | 'timeout'
  | 'aborted'
  // Session life cycle
  // APIs called through a preset (Earth Engine, Sentinel Hub): the service's own error, with `apiStatus`/`apiMessage`
  | 'api_error'
  // Credentials handed to the SDK by a platform (e.g. SEPAL headers) are missing or malformed
  | 'invalid_credentials'
  | 'token_expired'
  | 'token_rejected'
  // Signed out: the session's refresh token is spent or revoked, so no token can be had until the user signs in again
  | 'login_required'
  // Signing users in (`shared-session/oidc`): the authorization response, the popup, the provider, the context
  // A callback whose `state` matches no transaction of this browser: reloaded, replayed, opened twice, or foreign
  | 'invalid_state'
  // The provider's own errors in the callback (OpenID Connect Core §3.1.2.6; `login_required` is above)
  | 'access_denied'
  | 'interaction_required'
  | 'temporarily_unavailable'
  | 'popup_blocked'
  | 'popup_closed'
  // The device authorization grant (RFC 8628, `deviceSignIn`): the user code expired before the person approved it
  | 'expired_token'
  // The provider does not offer what a safe sign-in needs (PKCE with S256, an authorization endpoint)
  | 'unsupported_provider'
  // This context cannot sign in: a worker, or no IndexedDB to keep the transaction in
  | 'unsupported_context'
  | 'closed'
  | 'invalid_options'
  // Sharing between contexts
  | 'invalid_message'
  | 'corrupt_storage'
  // A file that would keep a secret (the refresh token of `deviceSignIn`) or its directory is open to another user, or
  // not ours: refused before anything is read or written
  | 'insecure_storage'
  | 'sharing_degraded'
  | 'sharing_unavailable'
  // A store the sharing needs refused this process (a Redis ACL without a command, the keys or the channels): the
  // message names what is missing
  | 'permission_denied';

export interface SessionErrorDetails {
  /** The OAuth `error` field, when the server sent one. */
  oauthError?: string | undefined;
  /** The OAuth `error_description` field, when the server sent one. */
  oauthErrorDescription?: string | undefined;
  /** HTTP status of the response the error is about. */
  status?: number | undefined;
  /** How long the server asked us to wait (ms), from `Retry-After`. */
  retryAfter?: number | undefined;
  /** The HTTP response the error is about (kept non-enumerable, so it is not logged or serialised with the error). */
  response?: Response | undefined;
  /** The API's own error status, e.g. Google's `PERMISSION_DENIED` or Sentinel Hub's `RENDERER_EXCEPTION`. */
  apiStatus?: string | undefined;
  /** The API's own error message, as the service sent it. */
  apiMessage?: string | undefined;
  cause?: unknown;
}

const DETAIL_FIELDS = ['oauthError', 'oauthErrorDescription', 'status', 'retryAfter', 'apiStatus', 'apiMessage'] as const;

/** OAuth 2.0 error codes (RFC 6749 §5.2): a token endpoint's `error` with one of these names keeps it as our code. */
export const OAUTH_ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
] as const satisfies readonly ErrorCode[];

/**
 * Failures of a token request that every other context waiting for the same token should see too, because asking
 * again at once would only repeat them. Aborts and closes are local to the context that had them.
 */
export const SHARED_FAILURE_CODES = [
  ...OAUTH_ERROR_CODES,
  'invalid_response',
  'rate_limited',
  'endpoint_unavailable',
  'request_failed',
  'timeout',
  'token_expired',
] as const satisfies readonly ErrorCode[];

/**
 * The one error class of shared-session. Messages never contain a secret, a token or a full URL query.
 */
export class SessionError extends Error {
  override readonly name = 'SessionError';
  readonly code: ErrorCode;
  // `declare`: no class-field initialisers, so absent details stay absent (and the bundle stays small).
  declare readonly oauthError?: string;
  declare readonly oauthErrorDescription?: string;
  declare readonly status?: number;
  declare readonly retryAfter?: number;
  /** The HTTP response the error is about, when there is one (e.g. the API's second 401 for `token_rejected`). */
  declare readonly response?: Response;
  declare readonly apiStatus?: string;
  declare readonly apiMessage?: string;

  constructor(code: ErrorCode, message: string, details: SessionErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    for (const field of DETAIL_FIELDS) {
      const value = details[field];
      if (value !== undefined) (this as Record<string, unknown>)[field] = value;
    }
    // Non-enumerable: a response (and the token it may echo) is not logged or serialised with the error.
    if (details.response !== undefined) Object.defineProperty(this, 'response', { value: details.response });
  }
}

/** Maps an OAuth `error` value to our code; unknown values become `request_failed`. */
export function codeForOAuthError(error: string): ErrorCode {
  return (OAUTH_ERROR_CODES as readonly string[]).includes(error) ? (error as ErrorCode) : 'request_failed';
}

/**
 * True when `error` is a SessionError (optionally with `code`). Checks `name` and `code` rather than
 * `instanceof`, so it also works across realms and duplicated bundles.
 */
export function isSessionError(error: unknown, code?: ErrorCode): error is SessionError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'SessionError' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (code === undefined || (error as { code: unknown }).code === code)
  );
}

/** Normalises whatever an aborted signal carries into an `aborted` (or `timeout`) SessionError. */
export function abortError(signal: AbortSignal): SessionError {
  const reason: unknown = signal.reason;
  if (isSessionError(reason)) return reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new SessionError(timedOut ? 'timeout' : 'aborted', timedOut ? 'The request timed out' : 'The operation was aborted', {
    cause: reason,
  });
}
