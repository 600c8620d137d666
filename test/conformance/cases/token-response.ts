import type { Defect, IdTokenParts, TokenAnswer } from '../support/misbehaving-provider.js';
import type { ConformanceCase } from '../support/expectations.js';

/** A token response's JSON body, edited in place by `change`. */
type Body = Record<string, unknown>;
const body = (change: (body: Body) => void) => (answer: TokenAnswer): TokenAnswer => {
  change(answer.body as Body);
  return answer;
};
const CONTROL = 'at-\r\nX-Injected: yes';
const now = (): number => Math.floor(Date.now() / 1000);

/**
 * Defects of a token response, each in two places: the code exchange (`token`) and a refresh (`refresh`). RFC 6749
 * §5.1, RFC 6750 §6.1.1 (the token's characters), RFC 9449 (DPoP, which the session never asks for).
 */
const responseDefects: readonly { what: string; rule: string; change: (answer: TokenAnswer) => TokenAnswer; refused?: ConformanceCase['refused']; accepted?: string }[] = [
  { what: 'token_type-absent', rule: 'RFC 6749 §5.1: token_type is required', change: body((b) => void delete b.token_type), refused: ['invalid_response'] },
  {
    what: 'token_type-dpop',
    rule: 'RFC 9449 §5: a DPoP-bound token is useless without the proof the client never made',
    change: body((b) => void (b.token_type = 'DPoP')),
    refused: ['invalid_response'],
  },
  { what: 'token_type-mac', rule: 'RFC 6749 §7.1: an unknown token type must not be used', change: body((b) => void (b.token_type = 'mac')), refused: ['invalid_response'] },
  {
    what: 'token_type-lowercase-bearer',
    rule: 'RFC 6749 §5.1: token_type is case-insensitive',
    change: body((b) => void (b.token_type = 'bearer')),
    accepted: 'token_type is case-insensitive (RFC 6749 §5.1)',
  },
  { what: 'expires_in-negative', rule: 'RFC 6749 §5.1: a lifetime in seconds', change: body((b) => void (b.expires_in = -300)), refused: ['invalid_response'] },
  { what: 'expires_in-zero', rule: 'RFC 6749 §5.1: a token that is already expired', change: body((b) => void (b.expires_in = 0)), refused: ['invalid_response'] },
  {
    what: 'expires_in-not-number',
    rule: 'RFC 6749 §5.1: expires_in is a number (JSON)',
    change: body((b) => void (b.expires_in = 'soon')),
    refused: ['invalid_response'],
  },
  {
    what: 'expires_in-huge',
    rule: 'RFC 6749 §5.1',
    change: body((b) => void (b.expires_in = 1e12)),
    accepted: 'a lifetime is the provider\'s to give; the session caps it (MAX_EXPIRES_IN) and a rejected token is replaced (401 rule)',
  },
  {
    what: 'expires_in-absent',
    rule: 'RFC 6749 §5.1: expires_in is RECOMMENDED',
    change: body((b) => void delete b.expires_in),
    accepted: 'expires_in is only RECOMMENDED; the session assumes defaultExpiresIn',
  },
  { what: 'access_token-absent', rule: 'RFC 6749 §5.1: access_token is required', change: body((b) => void delete b.access_token), refused: ['invalid_response'] },
  { what: 'access_token-empty', rule: 'RFC 6750 §2.1: b64token is 1 or more characters', change: body((b) => void (b.access_token = '')), refused: ['invalid_response'] },
  {
    what: 'access_token-control-characters',
    rule: 'RFC 6750 §2.1: b64token characters only (CR/LF would split the Authorization header)',
    change: body((b) => void (b.access_token = CONTROL)),
    refused: ['invalid_response'],
  },
  { what: 'access_token-not-string', rule: 'RFC 6749 §5.1: access_token is a string', change: body((b) => void (b.access_token = 42)), refused: ['invalid_response'] },
  {
    what: 'refresh_token-control-characters',
    rule: 'RFC 6749 §A.17: refresh-token = 1*VSCHAR',
    change: body((b) => void (b.refresh_token = 'rt-\u0000\r\nnext')),
    refused: ['invalid_response'],
  },
  {
    what: 'response-not-json',
    rule: 'RFC 6749 §5.1: application/json',
    change: () => ({ status: 200, body: '<html>maintenance</html>', contentType: 'text/html' }),
    refused: ['invalid_response'],
  },
  {
    what: 'response-error-with-200',
    rule: 'RFC 6749 §5.2: an error body is no token',
    change: () => ({ status: 200, body: { error: 'server_error' } }),
    refused: ['invalid_response', 'request_failed'],
  },
  {
    what: 'scope-narrowed',
    rule: 'RFC 6749 §3.3: the server may grant less than asked',
    change: body((b) => void (b.scope = 'openid')),
    accepted: 'the provider may narrow the scope (RFC 6749 §3.3)',
  },
];

/** The code exchange's token response. */
export const tokenResponseCases: readonly ConformanceCase[] = [
  ...responseDefects.map(({ what, rule, change, refused, accepted }) => ({
    id: `token-${what}`,
    rule,
    defect: { token: change },
    ...(refused !== undefined && { refused }),
    ...(accepted !== undefined && { accepted }),
  })),
  {
    id: 'token-refresh_token-absent',
    rule: 'RFC 6749 §5.1: refresh_token is optional',
    defect: { token: body((b) => void delete b.refresh_token) },
    // The session's own rule: without one no other context could renew the session; told at once, not an hour later.
    refused: ['invalid_response'],
  },
];

/** The refreshed ID token, bent by `change`. */
const refreshIdToken = (change: (parts: IdTokenParts) => void): Defect => ({
  refreshIdToken: (parts) => {
    change(parts);
    return parts;
  },
});

/**
 * A refresh's answer (RFC 6749 §6, OpenID Connect Core §12.2), after a correct sign-in. A refused 2xx answer
 * spent the refresh token: the session signs out everywhere (`invalid_grant`) and never sends it again; `refused`
 * names why (the error's cause, or `invalid_grant` itself for another user's sign-in or a dead grant).
 */
export const refreshCases: readonly ConformanceCase[] = [
  { id: 'rp-refresh-token', rule: 'RFC 9700 §4.14.2: rotation on every use', defect: {}, accepted: 'a correct provider (rotation)' },
  {
    id: 'refresh-not-rotated',
    rule: 'RFC 6749 §6: the server MAY issue a new refresh token',
    defect: { rotate: false },
    accepted: 'rotation is optional; the same token is used again, which is no reuse',
  },
  {
    id: 'refresh-refresh_token-absent',
    rule: 'RFC 6749 §6: the server MAY issue a new refresh token',
    defect: { rotate: false, refresh: body((b) => void delete b.refresh_token) },
    accepted: 'without a new one the client keeps the one it has (RFC 6749 §6)',
  },
  {
    id: 'refresh-id_token-absent',
    rule: 'OIDC Core §12.2: the refresh response MAY carry an ID token',
    defect: { refreshIdToken: () => undefined },
    accepted: 'an ID token is optional in a refresh response (OIDC Core §12.2)',
  },
  ...responseDefects.map(({ what, rule, change, refused, accepted }) => ({
    id: `refresh-${what}`,
    rule,
    defect: { refresh: (answer: TokenAnswer) => change(answer) },
    ...(refused !== undefined && { refused }),
    ...(accepted !== undefined && { accepted }),
  })),
  {
    id: 'refresh-id_token-sub',
    rule: 'OIDC Core §12.2: its sub must be the sign-in\'s',
    defect: refreshIdToken((parts) => void (parts.claims.sub = 'mallory')),
    refused: ['invalid_grant'],
  },
  {
    id: 'refresh-id_token-iss',
    rule: 'OIDC Core §12.2: its iss must be the sign-in\'s',
    defect: refreshIdToken((parts) => void (parts.claims.iss = 'https://op.example.test')),
    refused: ['invalid_response'],
  },
  {
    id: 'refresh-id_token-aud',
    rule: 'OIDC Core §12.2: its aud must be the client',
    defect: refreshIdToken((parts) => void (parts.claims.aud = 'another-client')),
    refused: ['invalid_response'],
  },
  {
    id: 'refresh-id_token-exp-past',
    rule: 'OIDC Core §12.2, §3.1.3.7 (9)',
    defect: refreshIdToken((parts) => void (parts.claims.exp = now() - 120)),
    refused: ['invalid_response'],
  },
  {
    id: 'refresh-id_token-auth_time-changed',
    rule: 'OIDC Core §12.2: auth_time is the original authentication\'s',
    defect: refreshIdToken((parts) => void (parts.claims.auth_time = now())),
    refused: ['invalid_grant'],
  },
  {
    id: 'refresh-id_token-sig-none',
    rule: 'OIDC Core §2: `none` only when the client registered it',
    defect: refreshIdToken((parts) => void (parts.signing = 'none')),
    refused: ['invalid_response'],
  },
  {
    id: 'refresh-invalid_grant',
    rule: 'RFC 6749 §5.2: the refresh token is no longer valid',
    defect: { refresh: () => ({ status: 400, body: { error: 'invalid_grant' } }) },
    refused: ['invalid_grant'],
  },
];
