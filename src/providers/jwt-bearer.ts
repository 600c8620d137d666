import { SessionError, type ErrorCode } from '../core/errors.js';
import { clientCredentialsForm, credentialKey, formKey, requireString, requireUrl } from './client-credentials.js';
import { prepareKey, type JwtAlgorithm, type Signer } from './jwt-key.js';
import type { FetchTokenContext, TokenProvider } from './provider.js';
import { requestToken, type TokenRequestOptions } from './token-request.js';

export type { JwtAlgorithm } from './jwt-key.js';

/** RFC 7523 §2.1: the grant type of a JWT used as an authorization grant. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** RFC 7523 §2.2: the client assertion type of a JWT used for client authentication. */
export const JWT_CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How the assertions of a provider are signed. */
export interface JwtSigningOptions {
  /**
   * The private key: a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, as key files and `openssl genpkey` write it) or a
   * `CryptoKey` with the `sign` usage (make it non-extractable). Imported once; never stored, broadcast, logged or put
   * in the credential key (that holds a SHA-256 of the PEM's public part, or the `kid` of a `CryptoKey`).
   */
  readonly privateKey: CryptoKey | string;
  /** The key id (`kid` header) the server knows the public key by. Required with a `CryptoKey`. */
  readonly kid?: string | undefined;
  /**
   * `RS256`, `ES256` or `PS256`. Default: what the key says (an RSA key signs RS256, an RSA-PSS key PS256, an EC
   * P-256 key ES256). An RSA key may be asked to sign PS256.
   */
  readonly alg?: JwtAlgorithm | undefined;
  /** Lifetime of each assertion (s): `exp` − `iat`. At most 3600 (Google's limit). Default 300. */
  readonly assertionLifetime?: number | undefined;
}

/** What `jwtBearerGrant` takes (RFC 7523 §2.1). */
export interface JwtBearerGrantOptions extends JwtSigningOptions, TokenRequestOptions {
  readonly tokenUrl: string;
  /** `iss`: who signs (a service account's email, a client id). */
  readonly issuer: string;
  /** `sub`: on whose behalf. Left out when undefined. */
  readonly subject?: string | undefined;
  /** `aud`. Default `tokenUrl`. */
  readonly audience?: string | undefined;
  /** More claims of the assertion (Google's `scope`, for instance). The registered claims above cannot be replaced. */
  readonly claims?: Readonly<Record<string, string>> | undefined;
  /** `scope` form parameter. */
  readonly scope?: string | undefined;
  /** More form parameters for the token request. */
  readonly extraParams?: Readonly<Record<string, string>> | undefined;
  /** The code of errors about the key (its import, its format). Default `invalid_options`. */
  readonly keyErrorCode?: ErrorCode | undefined;
  /** The name errors give the key. Default `privateKey`. */
  readonly keyField?: string | undefined;
}

/** What `jwtClientCredentials` takes (RFC 7523 §2.2, OpenID Connect's `private_key_jwt`). */
export interface JwtClientCredentialsOptions extends JwtSigningOptions, TokenRequestOptions {
  /** The token endpoint; also the assertion's `aud` unless `assertionAudience` says otherwise. */
  readonly tokenUrl: string;
  /** `client_id`, and the assertion's `iss` and `sub`. */
  readonly clientId: string;
  /** `aud` of the assertion. Default `tokenUrl` (Keycloak, oidc-provider and Auth0 accept it; some servers want their issuer). */
  readonly assertionAudience?: string | undefined;
  /** Space-separated scopes. */
  readonly scope?: string | undefined;
  /** `audience` parameter (Auth0 and others). */
  readonly audience?: string | undefined;
  /** More form parameters for the token request. */
  readonly extraParams?: Readonly<Record<string, string>> | undefined;
}

const REGISTERED = /* @__PURE__ */ new Set(['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'nbf']);
const encoder = /* @__PURE__ */ new TextEncoder();

/**
 * The client credentials grant with the client authenticated by a signed JWT (`private_key_jwt`, RFC 7523 §2.2):
 * no shared secret in configuration, only the private key of a key pair whose public key the server knows (Keycloak,
 * and with it Copernicus Data Space; Auth0; any OpenID provider). A fresh assertion (`iss` = `sub` = client id,
 * `aud` = token endpoint, `iat`/`exp`, a random `jti`) is signed for every attempt of every request.
 *
 * @example
 * const provider = jwtClientCredentials({ tokenUrl, clientId, privateKey: process.env.CLIENT_KEY_PEM ?? '', kid: 'key-1' });
 * const session = createSession({ provider });
 */
export function jwtClientCredentials(options: JwtClientCredentialsOptions): TokenProvider {
  const { tokenUrl, clientId, assertionAudience = tokenUrl, scope, audience, extraParams } = options;
  requireUrl('tokenUrl', tokenUrl);
  requireString('clientId', clientId);
  const assertion = assertions(options, { field: 'privateKey', code: 'invalid_options' });
  const requestOptions = tokenRequestOptions(options);
  return {
    key: credentialKey(
      'private_key_jwt',
      tokenUrl,
      clientId,
      scope,
      audience,
      assertionAudience,
      formKey(extraParams),
      assertion.keyPart,
    ),
    canRefresh: true,
    usesRefreshToken: false,
    fetchToken(context) {
      const form = clientCredentialsForm(scope, audience, extraParams);
      form.set('client_id', clientId);
      form.set('client_assertion_type', JWT_CLIENT_ASSERTION);
      return assertion.request(tokenUrl, form, 'client_assertion', { iss: clientId, sub: clientId, aud: assertionAudience }, context, requestOptions);
    },
  };
}

/**
 * A signed JWT exchanged for an access token (the JWT bearer grant, RFC 7523 §2.1), as Google service accounts do
 * (see `googleServiceAccount` in `shared-session/earth-engine`). A fresh assertion is signed for every attempt.
 */
export function jwtBearerGrant(options: JwtBearerGrantOptions): TokenProvider {
  const { tokenUrl, issuer, subject, audience = tokenUrl, claims = {}, scope, extraParams } = options;
  requireUrl('tokenUrl', tokenUrl);
  requireString('issuer', issuer);
  if (subject !== undefined) requireString('subject', subject);
  for (const name of Object.keys(claims)) {
    if (REGISTERED.has(name)) throw new SessionError('invalid_options', `claims cannot set the registered claim ${name}`);
  }
  const source = { field: options.keyField ?? 'privateKey', code: options.keyErrorCode ?? 'invalid_options' };
  const assertion = assertions(options, source);
  const requestOptions = tokenRequestOptions(options);
  return {
    key: credentialKey(
      'jwt_bearer',
      tokenUrl,
      issuer,
      subject,
      audience,
      formKey(claims),
      scope,
      formKey(extraParams),
      assertion.keyPart,
    ),
    canRefresh: true,
    usesRefreshToken: false,
    fetchToken(context) {
      const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, ...extraParams });
      if (scope !== undefined) form.set('scope', scope);
      const registered = { iss: issuer, aud: audience, ...(subject === undefined ? {} : { sub: subject }) };
      return assertion.request(tokenUrl, form, 'assertion', { ...claims, ...registered }, context, requestOptions);
    },
  };
}

/**
 * The token request settings alone: the provider keeps this, never `options`, which holds the private key (a PEM
 * string cannot be wiped, so it must at least become unreachable once imported).
 */
function tokenRequestOptions(options: TokenRequestOptions): TokenRequestOptions {
  const { attempts, backoff, maxDelay, timeout, defaultExpiresIn } = options;
  return { attempts, backoff, maxDelay, timeout, defaultExpiresIn };
}

interface Assertions {
  /** The key's part of the credential key: `alg`, `kid` and the public fingerprint; nothing secret. */
  readonly keyPart: string;
  /** Sends the token request, with a newly signed assertion in `field` on every attempt. */
  request(
    tokenUrl: string,
    form: URLSearchParams,
    field: string,
    claims: Readonly<Record<string, string>>,
    context: FetchTokenContext,
    options: TokenRequestOptions,
  ): ReturnType<TokenProvider['fetchToken']>;
}

function assertions(options: JwtSigningOptions, source: { field: string; code: ErrorCode }): Assertions {
  const { kid, assertionLifetime = 300 } = options;
  if (kid !== undefined) requireString('kid', kid);
  if (!Number.isInteger(assertionLifetime) || assertionLifetime < 1 || assertionLifetime > 3600) {
    throw new SessionError('invalid_options', 'assertionLifetime must be a whole number of seconds from 1 to 3600');
  }
  const key = prepareKey(options.privateKey, options.alg, source);
  if (key.fingerprint === undefined && kid === undefined) {
    // A CryptoKey cannot be read, so nothing else tells two of them apart: without a kid, a wrong key would share
    // the session (and the token) of the right one.
    throw new SessionError('invalid_options', 'kid is required with a CryptoKey privateKey');
  }
  const header: Record<string, string> = { alg: key.alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) };
  const encodedHeader = base64url(encoder.encode(JSON.stringify(header)));
  return {
    keyPart: credentialKey(key.alg, kid, key.fingerprint),
    async request(tokenUrl, form, field, claims, context, requestOptions) {
      const signer = await key.signer();
      const make = (now: number): Promise<string> => signJwt(signer, encodedHeader, claims, now, assertionLifetime);
      // Each attempt (retries too) carries its own assertion: servers remember `jti`s, so a resent one is a replay.
      const signing: FetchTokenContext = {
        ...context,
        fetch: async (input, init) => {
          const body = new URLSearchParams(form);
          body.set(field, await make(context.clock.now()));
          return context.fetch(input, { ...init, body: body.toString() });
        },
      };
      return requestToken(tokenUrl, form, {}, signing, requestOptions);
    },
  };
}

/** Signs one JWT: `iat` now, `exp` `lifetime` seconds later, a random `jti`. */
async function signJwt(
  signer: Signer,
  encodedHeader: string,
  claims: Readonly<Record<string, string>>,
  now: number,
  lifetime: number,
): Promise<string> {
  const iat = Math.floor(now / 1000);
  const payload = { ...claims, iat, exp: iat + lifetime, jti: base64url(crypto.getRandomValues(new Uint8Array(16))) };
  const signingInput = `${encodedHeader}.${base64url(encoder.encode(JSON.stringify(payload)))}`;
  return `${signingInput}.${base64url(await signer.sign(encoder.encode(signingInput)))}`;
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (let index = 0; index < bytes.length; index += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(index, index + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
