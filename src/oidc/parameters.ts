import { SessionError } from '../core/errors.js';
import { formKey } from '../providers/client-credentials.js';

/**
 * Authorization request parameters that only change the provider's login page (who is suggested, in which language,
 * whether to ask again), never the token: two sessions that differ only in these share one credential. Every other
 * parameter (`audience`, `resource`, `acr_values`, `claims`, `organization`…) may change what the token is for, so
 * it is part of the credential key.
 */
const LOGIN_PAGE_PARAMETERS: ReadonlySet<string> = new Set([
  'prompt',
  'login_hint',
  'ui_locales',
  'display',
  'max_age',
  'id_token_hint',
  'kc_idp_hint',
  'kc_locale',
  'screen_hint',
]);

/** Parameters this library sets itself: an app's `authorizationParams` cannot replace them. */
export const OWN_PARAMETERS: ReadonlySet<string> = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
]);

type Parameters = Readonly<Record<string, string>> | undefined;

/** The parameters that make a token different, as a credential key part (sorted; undefined when there are none). */
export function tokenParametersKey(parameters: Parameters): string | undefined {
  return formKey(Object.fromEntries(Object.entries(parameters ?? {}).filter(([name]) => isTokenParameter(name))));
}

function isTokenParameter(name: string): boolean {
  return !LOGIN_PAGE_PARAMETERS.has(name) && !OWN_PARAMETERS.has(name);
}

/**
 * The parameters of one sign-in: the session's, and the call's over them. A call may change the login page only: a
 * parameter that changes the token would bring a token of another credential under this session's key.
 */
export function signInParameters(session: Parameters, call: Parameters): Readonly<Record<string, string>> {
  for (const [name, value] of Object.entries(call ?? {})) {
    if (isTokenParameter(name) && session?.[name] !== value) {
      throw new SessionError('invalid_options', `signIn's authorizationParams may only change the login page: give ${name} to oidcSession (it changes the token)`);
    }
  }
  return { ...session, ...call };
}

/** The `max_age` asked for (s), if any: the ID token's `auth_time` is then checked against it. */
export function maxAgeOf(parameters: Parameters): number | undefined {
  const value = parameters?.max_age;
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new SessionError('invalid_options', 'max_age must be a number of seconds');
  return Number(value);
}
