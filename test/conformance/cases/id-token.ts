import type { Defect, IdTokenParts } from '../support/misbehaving-provider.js';
import type { ConformanceCase } from '../support/expectations.js';

/** The ID token of the code exchange, bent by `change` (its claims and header may be edited in place). */
const idToken = (change: (parts: IdTokenParts) => void): Defect => ({
  idToken: (parts) => {
    change(parts);
    return parts;
  },
});
const now = (): number => Math.floor(Date.now() / 1000);
const TLS = 'OIDC Core §3.1.3.7 (6): an ID token from the token endpoint may be trusted through TLS instead of its signature';
/** Why the session accepts it: oauth4webapi does not verify the signature of an ID token it fetched itself. */
const OVER_TLS = 'signature not checked: the ID token came from the token endpoint over TLS (§3.1.3.7 (6))';

/**
 * ID token defects at the code exchange: the OpenID Foundation's RP certification plan (Basic RP, code flow) and
 * OpenID Connect Core §3.1.3.7. The session validates with oauth4webapi (`processAuthorizationCodeResponse`).
 */
export const idTokenCases: readonly ConformanceCase[] = [
  { id: 'rp-response_type-code', rule: 'OIDC Core §3.1: a correct provider', defect: {}, accepted: 'a correct provider' },
  {
    id: 'rp-id_token-sig-none',
    rule: 'OIDC Core §2: `none` only when the client registered it',
    defect: idToken((parts) => void (parts.signing = 'none')),
    refused: ['invalid_response'],
  },
  { id: 'rp-id_token-bad-sig-rs256', rule: TLS, defect: idToken((parts) => void (parts.signing = 'bad-signature')), accepted: OVER_TLS },
  {
    id: 'rp-id_token-bad-sig-hs256',
    rule: 'OIDC Core §3.1.3.7 (7): the alg must be the registered one or the advertised RS256 (a public client has no secret)',
    defect: idToken((parts) => void (parts.signing = 'hs256-client-id')),
    refused: ['invalid_response'],
  },
  { id: 'rp-id_token-kid-absent-single-jwks', rule: TLS, defect: idToken((parts) => void delete parts.header.kid), accepted: OVER_TLS },
  {
    id: 'rp-id_token-kid-absent-multiple-jwks',
    rule: 'the plan allows refusing or trying every key; ' + TLS,
    defect: { ...idToken((parts) => void delete parts.header.kid), publishTwoKeys: true },
    accepted: OVER_TLS,
  },
  {
    id: 'rp-id_token-kid-unknown',
    rule: TLS,
    defect: idToken((parts) => {
      parts.signing = 'unpublished-key';
      parts.header.kid = 'unpublished';
    }),
    accepted: OVER_TLS,
  },
  {
    id: 'rp-id_token-issuer-mismatch',
    rule: 'OIDC Core §3.1.3.7 (2): iss must equal the issuer',
    defect: idToken((parts) => void (parts.claims.iss = 'https://op.example.test')),
    refused: ['invalid_response'],
  },
  { id: 'rp-id_token-iss-absent', rule: 'OIDC Core §2: iss is required', defect: idToken((parts) => void delete parts.claims.iss), refused: ['invalid_response'] },
  {
    id: 'rp-id_token-aud',
    rule: 'OIDC Core §3.1.3.7 (3): aud must contain the client id',
    defect: idToken((parts) => void (parts.claims.aud = 'another-client')),
    refused: ['invalid_response'],
  },
  { id: 'rp-id_token-aud-absent', rule: 'OIDC Core §2: aud is required', defect: idToken((parts) => void delete parts.claims.aud), refused: ['invalid_response'] },
  {
    id: 'rp-id_token-aud-multiple-without-azp',
    rule: 'OIDC Core §3.1.3.7 (3): untrusted additional audiences are refused',
    defect: idToken((parts) => void (parts.claims.aud = [String(parts.claims.aud), 'another-client'])),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-azp-mismatch',
    rule: 'OIDC Core §3.1.3.7 (5): azp, when present, must be the client id',
    defect: idToken((parts) => {
      parts.claims.aud = [String(parts.claims.aud), 'another-client'];
      parts.claims.azp = 'another-client';
    }),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-aud-multiple-with-azp',
    rule: 'OIDC Core §3.1.3.7 (3)–(5)',
    defect: idToken((parts) => {
      const client = String(parts.claims.aud);
      parts.claims.aud = [client, 'another-client'];
      parts.claims.azp = client;
    }),
    accepted: 'the client is an audience and the authorized party (§3.1.3.7 (4), (5))',
  },
  { id: 'rp-id_token-iat', rule: 'OIDC Core §2: iat is required', defect: idToken((parts) => void delete parts.claims.iat), refused: ['invalid_response'] },
  {
    id: 'rp-id_token-iat-not-number',
    rule: 'OIDC Core §2: iat is a NumericDate',
    defect: idToken((parts) => void ((parts.claims as Record<string, unknown>).iat = String(parts.claims.iat))),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-iat-future',
    rule: 'OIDC Core §3.1.3.7 (10): iat MAY be used to reject tokens issued too far from the current time',
    defect: idToken((parts) => void (parts.claims.iat = now() + 3600)),
    accepted: 'rejecting on iat is optional (§3.1.3.7 (10)); exp and nbf bound the token',
  },
  {
    id: 'rp-id_token-nbf-future',
    rule: 'RFC 7519 §4.1.5: not to be accepted before nbf',
    defect: idToken((parts) => void (parts.claims.nbf = now() + 3600)),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-crit-header',
    rule: 'RFC 7515 §4.1.11: a critical extension the client does not understand makes the JWS invalid',
    defect: idToken((parts) => Object.assign(parts.header, { crit: ['urn:example:unknown'], 'urn:example:unknown': true })),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-exp-past',
    rule: 'OIDC Core §3.1.3.7 (9): the current time must be before exp',
    defect: idToken((parts) => void (parts.claims.exp = now() - 120)),
    refused: ['invalid_response'],
  },
  { id: 'rp-id_token-exp-absent', rule: 'OIDC Core §2: exp is required', defect: idToken((parts) => void delete parts.claims.exp), refused: ['invalid_response'] },
  { id: 'rp-id_token-sub', rule: 'OIDC Core §2: sub is required', defect: idToken((parts) => void delete parts.claims.sub), refused: ['invalid_response'] },
  {
    id: 'rp-id_token-sub-not-string',
    rule: 'OIDC Core §2: sub is a string',
    defect: idToken((parts) => void ((parts.claims as Record<string, unknown>).sub = 42)),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-nonce-invalid',
    rule: "OIDC Core §3.1.3.7 (11): nonce must equal the request's",
    defect: idToken((parts) => void (parts.claims.nonce = 'a-nonce-of-another-request')),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-nonce-absent',
    rule: 'OIDC Core §3.1.3.7 (11): a nonce was sent, so the ID token must carry it',
    defect: idToken((parts) => void delete parts.claims.nonce),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-auth_time-not-number',
    rule: 'OIDC Core §2: auth_time is a NumericDate',
    defect: idToken((parts) => void (parts.claims.auth_time = 'yesterday')),
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-max_age-auth_time-absent',
    rule: 'OIDC Core §3.1.3.7 (13): with max_age, auth_time is required',
    defect: idToken((parts) => void delete parts.claims.auth_time),
    rp: { authorizationParams: { max_age: '60' } },
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-max_age-auth_time-old',
    rule: 'OIDC Core §3.1.3.7 (13): an authentication older than max_age is refused',
    defect: idToken((parts) => void (parts.claims.auth_time = now() - 3600)),
    rp: { authorizationParams: { max_age: '60' } },
    refused: ['invalid_response'],
  },
  {
    id: 'rp-id_token-absent',
    rule: 'OIDC Core §3.1.3.3: the token response of an openid request carries an ID token',
    defect: { idToken: () => undefined },
    refused: ['invalid_response'],
  },
  { id: 'rp-id_token-malformed', rule: 'OIDC Core §2: the ID token is a JWT', defect: { idToken: () => 'not.a-jwt' }, refused: ['invalid_response'] },
];
