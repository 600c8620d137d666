import type { Defect } from '../support/misbehaving-provider.js';
import type { ConformanceCase } from '../support/expectations.js';

/** The discovery document, edited in place by `change` (it gets the case's issuer). */
const discovery = (change: (document: Record<string, unknown>, issuer: string) => void): Defect => ({
  discovery: (document, issuer) => {
    change(document, issuer);
    return document;
  },
});
/** The authorization response's parameters, edited in place. */
const authorize = (change: (response: URLSearchParams) => void): Defect => ({
  authorize: (response) => {
    change(response);
    return response;
  },
});
/** An endpoint no browser app may be sent to: script, a data document, or plain HTTP to another host. */
const HOSTILE = {
  javascript: "javascript:parent.postMessage({phase:'script-ran'},'*')",
  data: 'data:text/html,<script>parent.postMessage({phase:"script-ran"},"*")</script>',
  http: 'http://op.example.test/endpoint',
  file: 'file:///etc/passwd',
} as const;
const SCHEMES = 'Browser-Based Apps BCP §6.1, RFC 9700 §2.6: endpoints are https: (http: only on loopback for a loopback issuer)';

/**
 * Discovery defects (OpenID Connect Discovery §4.3, the RP plan's Config RP): refused when the sign-in starts,
 * before the page leaves (`phase: 'sign-in-failed'`).
 */
export const discoveryCases: readonly ConformanceCase[] = [
  {
    id: 'rp-discovery-issuer-not-matching-config',
    rule: 'OIDC Discovery §4.3: issuer must equal the URL discovery was made from',
    defect: discovery((document, issuer) => void (document.issuer = `${issuer}-impostor`)),
    refused: ['invalid_response'],
  },
  {
    id: 'discovery-issuer-trailing-slash',
    rule: 'OIDC Discovery §4.3: exactly equal',
    defect: discovery((document, issuer) => void (document.issuer = `${issuer}/`)),
    refused: ['invalid_response'],
  },
  {
    id: 'discovery-pkce-absent',
    rule: 'RFC 9700 §2.1.1, Browser-Based Apps BCP §6.1: a public client uses PKCE S256; the session fails closed when the provider does not say it supports it',
    defect: discovery((document) => void delete document.code_challenge_methods_supported),
    refused: ['unsupported_provider'],
  },
  {
    id: 'discovery-pkce-plain-only',
    rule: 'RFC 9700 §2.1.1: S256, not plain',
    defect: discovery((document) => void (document.code_challenge_methods_supported = ['plain'])),
    refused: ['unsupported_provider'],
  },
  {
    id: 'discovery-authorization_endpoint-absent',
    rule: 'OIDC Discovery §3: authorization_endpoint is required',
    defect: discovery((document) => void delete document.authorization_endpoint),
    refused: ['unsupported_provider', 'invalid_response'],
  },
  {
    id: 'discovery-token_endpoint-absent',
    rule: 'OIDC Discovery §3: token_endpoint is required for the code flow',
    defect: discovery((document) => void delete document.token_endpoint),
    refused: ['unsupported_provider', 'invalid_response'],
  },
  ...(['javascript', 'data', 'http'] as const).map((scheme) => ({
    id: `discovery-authorization_endpoint-${scheme}`,
    rule: SCHEMES,
    defect: discovery((document) => void (document.authorization_endpoint = HOSTILE[scheme])),
    refused: ['unsupported_provider'] as const,
  })),
  ...(['http', 'file'] as const).map((scheme) => ({
    id: `discovery-token_endpoint-${scheme}`,
    rule: SCHEMES,
    defect: discovery((document) => void (document.token_endpoint = HOSTILE[scheme])),
    refused: ['unsupported_provider'] as const,
  })),
  {
    id: 'discovery-revocation_endpoint-http',
    rule: SCHEMES,
    defect: discovery((document) => void (document.revocation_endpoint = HOSTILE.http)),
    refused: ['unsupported_provider'],
  },
  {
    id: 'discovery-end_session_endpoint-javascript',
    rule: SCHEMES,
    defect: discovery((document) => void (document.end_session_endpoint = HOSTILE.javascript)),
    refused: ['unsupported_provider'],
  },
  {
    id: 'discovery-not-json',
    rule: 'OIDC Discovery §4.2: a JSON object',
    defect: { discovery: () => ({ status: 200, body: '<html>login</html>', contentType: 'text/html' }) },
    refused: ['invalid_response'],
  },
];

/** Defects of the authorization response (RFC 6749 §4.1.2, RFC 9207, RFC 9700 §4.4, §4.7): refused at the callback. */
export const authorizationResponseCases: readonly ConformanceCase[] = [
  {
    id: 'rp-response-state-mismatch',
    rule: 'RFC 6749 §10.12, RFC 9700 §4.7: state binds the response to this browser\'s request',
    defect: authorize((response) => void response.set('state', 'a-state-of-another-request')),
    refused: ['invalid_state'],
  },
  {
    id: 'rfc9207-iss-absent',
    rule: 'RFC 9207 §2.4: advertised, so required',
    defect: authorize((response) => void response.delete('iss')),
    refused: ['invalid_response'],
  },
  {
    id: 'rfc9207-iss-mix-up',
    rule: 'RFC 9207 §2.4, RFC 9700 §4.4: the response comes from another provider',
    defect: authorize((response) => void response.set('iss', `${response.get('iss')!.replace(/\/[^/]*$/, '')}/honest-provider`)),
    refused: ['invalid_response'],
  },
  {
    id: 'rfc9207-iss-mismatch-unadvertised',
    rule: 'RFC 9207 §2.4: an iss that is present is compared, advertised or not',
    defect: {
      ...discovery((document) => void delete document.authorization_response_iss_parameter_supported),
      ...authorize((response) => void response.set('iss', 'https://op.example.test')),
    },
    refused: ['invalid_response'],
  },
  {
    id: 'rfc9207-iss-absent-unadvertised',
    rule: 'RFC 9207 §2.4',
    defect: {
      ...discovery((document) => void delete document.authorization_response_iss_parameter_supported),
      ...authorize((response) => void response.delete('iss')),
    },
    accepted: 'a provider that does not advertise RFC 9207 may omit iss (§2.4)',
  },
  {
    id: 'authorization-error-access_denied',
    rule: 'OIDC Core §3.1.2.6',
    defect: authorize((response) => {
      response.delete('code');
      response.set('error', 'access_denied');
    }),
    refused: ['access_denied'],
  },
  {
    id: 'authorization-error-and-code',
    rule: 'RFC 6749 §4.1.2.1: an error response carries no code',
    defect: authorize((response) => void response.set('error', 'access_denied')),
    refused: ['access_denied'],
  },
  {
    id: 'authorization-code-unknown',
    rule: 'RFC 6749 §4.1.3: the provider refuses a code it never issued',
    defect: authorize((response) => void response.set('code', 'a-code-never-issued')),
    refused: ['invalid_grant'],
  },
];
