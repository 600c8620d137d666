import * as z from 'zod/mini';
import { SessionError, type TokenProvider, type TokenRequestOptions } from '../index.js';
import { credentialKey, requireString, secretDigest } from '../providers/client-credentials.js';
import { parseTokenResponse, sendWithRetries } from '../providers/token-request.js';
import { parseBody } from './api-call.js';
import { errorBodySchema, MAX_MESSAGE, openEOErrorOf, SERVICE } from './openeo-errors.js';
import { boundedGet } from './openeo-get.js';

const oidcProvidersSchema = z.looseObject({
  // `z.refine` rather than `z.regex`: see core/schemas.ts.
  providers: z.array(z.looseObject({ id: z.string().check(z.refine((value) => /^[\w-]+$/.test(value))), issuer: z.string(), title: z.optional(z.string()) })),
});

export async function discoverProviders(url: string, fetch: typeof globalThis.fetch): Promise<ReadonlyArray<{ id: string; issuer: string }>> {
  const response = await boundedGet(fetch, `${url}/credentials/oidc`, undefined);
  if (!response.ok) throw await openEOErrorOf(response);
  return parseBody(`${SERVICE} /credentials/oidc`, await response.text(), oidcProvidersSchema).providers;
}

export function pickProvider(providers: ReadonlyArray<{ id: string; issuer: string }>, issuer: string | undefined): string {
  const normal = (value: string): string => value.replace(/\/+$/, '');
  const match = issuer === undefined ? undefined : providers.find((provider) => normal(provider.issuer) === normal(issuer));
  if (match !== undefined) return match.id;
  if (providers.length === 1 && issuer === undefined) return providers[0]!.id;
  const ids = providers.map((provider) => provider.id).join(', ') || 'none';
  throw new SessionError(
    'invalid_options',
    issuer === undefined
      ? `openEO lists several OIDC providers (${ids}) and the token does not say its issuer: pass providerId`
      : `No OIDC provider of this openEO back-end has the token's issuer (providers: ${ids}): pass providerId`,
  );
}

/** The `iss` of a JWT access token (read, not verified: it only picks the provider id; the back-end verifies). */
export function issuerOf(accessToken: string): string | undefined {
  const payload = accessToken.split('.')[1];
  if (payload === undefined || accessToken.split('.').length !== 3) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const iss = (JSON.parse(decodeURIComponent(escapeBytes(json))) as { iss?: unknown } | null)?.iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** Binary string → percent-encoded bytes, so that `decodeURIComponent` reads it as UTF-8. */
function escapeBytes(binary: string): string {
  let out = '';
  for (let index = 0; index < binary.length; index++) out += `%${binary.charCodeAt(index).toString(16).padStart(2, '0')}`;
  return out;
}

/** The provider of `openEO({ basic })`: `GET /credentials/basic` with HTTP Basic, answered with `{ access_token }`. */
export function basicProvider(url: string, credentials: { username: string; password: string }, options: TokenRequestOptions): TokenProvider {
  const { username, password } = credentials ?? {};
  requireString('basic.username', username);
  requireString('basic.password', password);
  if (username.includes(':')) throw new SessionError('invalid_options', 'basic.username cannot hold a colon (RFC 7617)');
  const policy = {
    attempts: options.attempts ?? 4,
    backoff: options.backoff ?? 250,
    maxDelay: options.maxDelay ?? 30_000,
    timeout: options.timeout ?? 10_000,
  };
  const endpoint = `${url}/credentials/basic`;
  return {
    key: credentialKey('openeo_basic', endpoint, username, secretDigest(password)),
    canRefresh: true,
    usesRefreshToken: false,
    fetchToken(context) {
      const init: RequestInit = { method: 'GET', headers: { authorization: basicCredentials(username, password), accept: 'application/json' } };
      return sendWithRetries('openEO /credentials/basic', endpoint, init, context, policy, (response, text, sentAt) => {
        if (response.ok) return parseTokenResponse(text, sentAt, options.defaultExpiresIn ?? 3600, response.status);
        let body: z.infer<typeof errorBodySchema> | undefined;
        try {
          const parsed = errorBodySchema.safeParse(JSON.parse(text));
          if (parsed.success) body = parsed.data;
        } catch {
          body = undefined;
        }
        const refused = response.status === 401 || response.status === 403;
        throw new SessionError(refused ? 'invalid_client' : 'request_failed', `openEO refused the basic credentials (${body?.code ?? response.status})`, {
          status: response.status,
          apiStatus: body?.code,
          apiMessage: body?.message?.slice(0, MAX_MESSAGE),
        });
      });
    },
  };
}

/** RFC 7617 Basic: `user-id ":" password` as they are, UTF-8, base64 (openEO's clients send exactly this). */
function basicCredentials(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}
