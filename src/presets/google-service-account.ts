import * as z from 'zod/mini';
import { SessionError, type TokenProvider, type TokenRequestOptions } from '../index.js';
import { jwtBearerGrant } from '../jwt.js';

/**
 * A Google service account key file (`gcloud iam service-accounts keys create key.json`), parsed from its JSON. Only
 * the fields read here are typed; every other field of the file is allowed.
 */
export interface GoogleServiceAccountKey {
  readonly type: 'service_account';
  readonly client_email: string;
  /** PKCS#8 PEM. Imported once as a non-extractable `CryptoKey`; never stored, broadcast, logged or put in a key. */
  readonly private_key: string;
  /** The key's id: sent as the JWT's `kid`. */
  readonly private_key_id?: string | undefined;
  /** Google's token endpoint, `https://oauth2.googleapis.com/token`; the JWT's audience. */
  readonly token_uri: string;
  readonly project_id?: string | undefined;
  readonly [field: string]: unknown;
}

/** What `googleServiceAccount` takes. */
export interface GoogleServiceAccountOptions extends TokenRequestOptions {
  /** The key file: its parsed JSON (or the JSON text, e.g. a Worker secret). Validated: `invalid_credentials` names a bad field. */
  readonly key: GoogleServiceAccountKey | string;
  /** OAuth scopes, e.g. `['https://www.googleapis.com/auth/earthengine']`. */
  readonly scopes: readonly string[];
  /** Domain-wide delegation: the user to act as (the JWT's `sub`). */
  readonly subject?: string | undefined;
  /** The token endpoint, instead of the key file's `token_uri` (which stays the JWT's audience). */
  readonly tokenUrl?: string | undefined;
  /** Lifetime of each signed assertion (s), at most 3600. Default 300. */
  readonly assertionLifetime?: number | undefined;
}

// `z.refine` with the rule written out, not `z.regex`/`z.minLength`: see core/schemas.ts.
const serviceAccountKeySchema = z.looseObject({
  type: z.literal('service_account'),
  client_email: z.string().check(z.refine((value) => /^[^\s@]+@[^\s@]+$/.test(value))),
  private_key: z.string().check(z.refine((value) => value.length > 0)),
  private_key_id: z.optional(z.string().check(z.refine((value) => /^[\w-]+$/.test(value)))),
  token_uri: z.string().check(z.refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol))),
});

/**
 * A Google service account, as servers and edge functions authenticate to Earth Engine: a JWT signed with the
 * account's private key (RS256, Web Crypto, so Cloudflare Workers and Deno too) exchanged at Google's token endpoint
 * (the JWT bearer grant, RFC 7523 §2.1). The JWT: `iss` the account's email, `aud` the key file's `token_uri`,
 * `scope`, `iat`/`exp` (5 minutes by default), a random `jti`, `kid` the key's id; `sub` only for domain-wide
 * delegation, as Google's own libraries send it. A key Google refuses is `invalid_grant` with Google's description.
 *
 * @example
 * const ee = earthEngine({
 *   provider: googleServiceAccount({ key: JSON.parse(process.env.EE_KEY_JSON ?? '{}'), scopes: ['https://www.googleapis.com/auth/earthengine'] }),
 *   project: 'my-project',
 * });
 */
export function googleServiceAccount(options: GoogleServiceAccountOptions): TokenProvider {
  const { key, scopes, subject, tokenUrl, assertionLifetime, ...tokenRequest } = options;
  const file = parseKeyFile(key);
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((scope) => typeof scope === 'string' && /^\S+$/.test(scope))) {
    throw new SessionError('invalid_options', 'scopes must be a non-empty list of OAuth scopes');
  }
  return jwtBearerGrant({
    ...tokenRequest,
    tokenUrl: tokenUrl ?? file.token_uri,
    audience: file.token_uri,
    issuer: file.client_email,
    subject,
    claims: { scope: scopes.join(' ') },
    privateKey: file.private_key,
    kid: file.private_key_id,
    alg: 'RS256',
    assertionLifetime,
    keyErrorCode: 'invalid_credentials',
    keyField: 'key.private_key',
  });
}

function parseKeyFile(key: unknown): z.infer<typeof serviceAccountKeySchema> {
  let value = key;
  if (typeof key === 'string') {
    try {
      value = JSON.parse(key);
    } catch {
      throw new SessionError('invalid_credentials', 'key is a string but not the JSON of a service account key file');
    }
  }
  const parsed = serviceAccountKeySchema.safeParse(value);
  if (!parsed.success) {
    // The field, never its value (a private key, or what was passed by mistake in its place).
    const field = parsed.error.issues[0]?.path.join('.') ?? '';
    throw new SessionError(
      'invalid_credentials',
      field === '' ? 'key must be a service account key file (an object)' : `key.${field} is missing or invalid`,
    );
  }
  return parsed.data;
}
