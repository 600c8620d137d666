import { hashKey } from '../core/digest.js';
import { SessionError } from '../core/errors.js';
import type { TokenProvider } from './provider.js';
import { requestToken, type TokenRequestOptions } from './token-request.js';

export interface ClientCredentialsOptions extends TokenRequestOptions {
  /** The token endpoint, e.g. `https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token`. */
  readonly tokenUrl: string;
  readonly clientId: string;
  /** Kept in this provider's closure only: never stored, broadcast or logged; the key holds only a SHA-256 digest. */
  readonly clientSecret: string;
  /** Space-separated scopes. */
  readonly scope?: string | undefined;
  /** `audience` parameter (Auth0 and others). */
  readonly audience?: string | undefined;
  /** How the client authenticates. Default `client_secret_post`. */
  readonly authMethod?: 'client_secret_post' | 'client_secret_basic' | undefined;
  /** More form parameters for the token request. */
  readonly extraParams?: Readonly<Record<string, string>> | undefined;
}

/** The OAuth 2.0 client credentials grant (RFC 6749 §4.4), as Sentinel Hub and Copernicus Data Space use it. */
export function clientCredentials(options: ClientCredentialsOptions): TokenProvider {
  const { tokenUrl, clientId, clientSecret, scope, audience, authMethod = 'client_secret_post', extraParams } = options;
  requireUrl('tokenUrl', tokenUrl);
  requireString('clientId', clientId);
  requireString('clientSecret', clientSecret);
  return {
    key: credentialKey(
      'client_credentials',
      tokenUrl,
      clientId,
      scope,
      audience,
      authMethod,
      formKey(extraParams),
      secretDigest(clientSecret),
    ),
    canRefresh: true,
    usesRefreshToken: false,
    fetchToken(context) {
      const form = clientCredentialsForm(scope, audience, extraParams);
      const headers: Record<string, string> = {};
      if (authMethod === 'client_secret_basic') {
        headers.authorization = basicAuthorization(clientId, clientSecret);
      } else {
        form.set('client_id', clientId);
        form.set('client_secret', clientSecret);
      }
      return requestToken(tokenUrl, form, headers, context, options);
    },
  };
}

/**
 * The form of a client credentials request (RFC 6749 §4.4.2) before the client authenticates: the grant, `scope`,
 * `audience` and the extra parameters. Shared with `jwtClientCredentials`, which authenticates with an assertion.
 */
export function clientCredentialsForm(
  scope: string | undefined,
  audience: string | undefined,
  extraParams: Readonly<Record<string, string>> | undefined,
): URLSearchParams {
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...extraParams });
  if (scope !== undefined) form.set('scope', scope);
  if (audience !== undefined) form.set('audience', audience);
  return form;
}

/** RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and base64-encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');
  const bytes = new TextEncoder().encode(`${encode(clientId)}:${encode(clientSecret)}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/**
 * The key of a credential: everything that makes its tokens different (grant, endpoint, client, every request
 * parameter) and digests of its secrets, never a secret in clear. Two providers share a session only when the same
 * request would be sent, so a wrong secret never joins the session of the right one.
 */
export function credentialKey(...parts: ReadonlyArray<string | undefined>): string {
  // An empty part is sent (`scope=`) where a missing one is not, so the two must not share a key: `=` is what
  // encodeURIComponent never returns, so it stands for the empty string.
  return parts.map((part) => (part === undefined ? '' : part === '' ? '=' : encodePart(part))).join('|');
}

function encodePart(part: string): string {
  try {
    return encodeURIComponent(part);
  } catch {
    // A URIError for a lone surrogate: such a string cannot be sent in a request either, and must not merge keys.
    throw new SessionError('invalid_options', 'Credential options must be well-formed strings (no lone surrogates)');
  }
}

/** A collision-resistant digest of a secret, for keys: tells secrets apart without keeping them. */
export function secretDigest(secret: string | undefined): string | undefined {
  return secret === undefined ? undefined : `sha256:${hashKey(`shared-session secret\u0000${secret}`)}`;
}

/** The extra form parameters as a key part: sorted by name, so that the order they were given in does not matter. */
export function formKey(params: Readonly<Record<string, string>> | undefined): string | undefined {
  if (params === undefined) return undefined;
  const entries = Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? undefined : entries.map(([name, value]) => `${encodePart(name)}=${encodePart(value)}`).join('&');
}

export function requireString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new SessionError('invalid_options', `${name} must be a non-empty string`);
  }
}

/**
 * An `http:` or `https:` URL that fetch can reach: absolute, or relative to the page where there is one (a browser
 * resolves `/oauth/token` against it; Node, Deno without `--location` and workers without a page cannot). A URL
 * without its scheme or a relative one is a configuration mistake, told at construction, never retried as an outage.
 */
export function requireUrl(name: string, value: unknown): asserts value is string {
  requireString(name, value);
  const href = (globalThis as { location?: { href?: unknown } }).location?.href;
  const base = typeof href === 'string' ? href : undefined;
  if (!URL.canParse(value, base) || !/^https?:$/.test(new URL(value, base).protocol)) {
    throw new SessionError('invalid_options', `${name} must be an absolute http(s) URL`);
  }
  refuseUserinfo(name, new URL(value, base));
}

/**
 * fetch refuses a URL with `user:password@` (and its error names the URL, password included): a configuration
 * mistake, told at construction without the URL.
 */
export function refuseUserinfo(name: string, url: URL): void {
  if (url.username !== '' || url.password !== '') {
    throw new SessionError('invalid_options', `${name} cannot hold credentials (user:password@): pass them as the options made for them`);
  }
}
