import type { ErrorCode } from '../index.js';

/**
 * What `shared-session` exits with: stable, documented in docs/cli.md, so that scripts can tell "sign in first" from
 * "the network is down" without reading messages.
 */
export const EXIT = {
  ok: 0,
  /** Anything not listed below (a provider that answered nonsense, an unexpected failure). */
  failure: 1,
  /** Bad arguments: unknown command or option, a missing value, a URL that is not one. */
  usage: 2,
  /** No sign-in for this profile (never signed in, signed out, or the refresh token was revoked). */
  notSignedIn: 3,
  /** The person (or the provider) refused the sign-in. */
  denied: 4,
  /** The sign-in was not completed in time (the device code or the browser wait expired). */
  expired: 5,
  /** The provider or the openEO back-end could not be reached, did not answer in time, or was unavailable. */
  network: 6,
  /** The profile file or the token store cannot be used (bad permissions, another owner, corrupt). */
  storage: 7,
  /** Interrupted (Ctrl-C): 128 + SIGINT, as shells do. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const byErrorCode: Partial<Record<ErrorCode, ExitCode>> = {
  login_required: EXIT.notSignedIn,
  invalid_grant: EXIT.notSignedIn,
  access_denied: EXIT.denied,
  token_expired: EXIT.expired,
  expired_token: EXIT.expired,
  endpoint_unavailable: EXIT.network,
  timeout: EXIT.network,
  rate_limited: EXIT.network,
  temporarily_unavailable: EXIT.network,
  invalid_options: EXIT.usage,
  corrupt_storage: EXIT.storage,
  insecure_storage: EXIT.storage,
  permission_denied: EXIT.storage,
  aborted: EXIT.interrupted,
};

/** The exit code for a `SessionError` code (unknown codes are a plain failure). */
export function exitCodeFor(code: string | undefined): ExitCode {
  return (code !== undefined && byErrorCode[code as ErrorCode]) || EXIT.failure;
}
