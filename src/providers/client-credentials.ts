import { SessionError } from '../core/errors.js';
import type { TokenProvider } from './provider.js';
import { requestToken, type TokenRequestOptions } from './token-request.js';

export interface ClientCredentialsOptions extends TokenRequestOptions {
  /** The token endpoint, e.g. `https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token`. */
  readonly tokenUrl: string;
  readonly clientId: string;
  /** Kept in this provider's closure only: never stored, broadcast, logged or put in a key. */
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
  requireString('tokenUrl', tokenUrl);
  requireString('clientId', clientId);
  requireString('clientSecret', clientSecret);
  return {
    key: credentialKey('client_credentials', tokenUrl, clientId, scope, audience),
    canRefresh: true,
    usesRefreshToken: false,
    fetchToken(context) {
      const form = new URLSearchParams({ grant_type: 'client_credentials', ...extraParams });
      if (scope !== undefined) form.set('scope', scope);
      if (audience !== undefined) form.set('audience', audience);
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

/** RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and base64-encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');
  const bytes = new TextEncoder().encode(`${encode(clientId)}:${encode(clientSecret)}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** A readable key made only of public parts of a credential. */
export function credentialKey(...parts: ReadonlyArray<string | undefined>): string {
  return parts.map((part) => encodeURIComponent(part ?? '')).join('|');
}

export function requireString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new SessionError('invalid_options', `${name} must be a non-empty string`);
  }
}
