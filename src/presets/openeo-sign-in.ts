import * as z from 'zod/mini';
import { SessionError } from '../index.js';
import { parseBody } from './api-call.js';
import { openEOErrorOf, SERVICE } from './openeo-errors.js';
import { boundedGet } from './openeo-get.js';

/*
 * Where a person signs in to an openEO back-end, read the way openEO's own clients read it: `GET /credentials/oidc`
 * lists the OIDC providers (their issuer and scopes) and, per provider, `default_clients` — public clients the
 * back-end registered, each with the grant types it may use. One home for `openEO({ signIn: 'device' })` and the
 * command line's `login --openeo`.
 */

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

/** The grant types of openEO's `default_clients` per flow (openEO API 1.x); `+pkce`: the client must send PKCE. */
export const OPENEO_GRANTS = {
  device: [`${DEVICE_CODE}+pkce`, DEVICE_CODE],
  browser: ['authorization_code+pkce'],
} as const;

const id = z.string().check(z.refine((value) => /^[\w-]+$/.test(value)));
const signInSchema = z.looseObject({
  providers: z.array(
    z.looseObject({
      id,
      issuer: z.string(),
      title: z.optional(z.string()),
      scopes: z.optional(z.array(z.string())),
      default_clients: z.optional(z.array(z.looseObject({ id: z.string().check(z.refine((value) => value.length > 0)), grant_types: z.array(z.string()) }))),
    }),
  ),
});

/** Where and how to sign in to an openEO back-end. */
export interface OpenEOSignInTarget {
  /** The id of the OIDC provider (what `Bearer oidc/<id>/<token>` names). */
  readonly providerId: string;
  /** Its issuer, without a trailing slash. */
  readonly issuer: string;
  /** A default client of the back-end for the flow (or the one given), or undefined when it lists none. */
  readonly clientId: string | undefined;
  /** The provider's scopes, with `openid` and `offline_access` (a refresh token, to stay signed in). */
  readonly scope: string;
  /** Whether the client must send PKCE with the flow (its grant is listed only with `+pkce`). */
  readonly pkce: boolean;
}

export interface OpenEOSignInQuery {
  /** The provider to sign in with; default the first one listed, as openEO's Python and JavaScript clients pick. */
  readonly providerId?: string | undefined;
  /** A client of your own instead of the back-end's default one. */
  readonly clientId?: string | undefined;
  readonly flow: keyof typeof OPENEO_GRANTS;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The OIDC provider to sign in with at the openEO API root `url`, and a default client of it that allows `flow`.
 * Fails with `unsupported_provider` when the back-end lists no OIDC provider, `invalid_options` when `providerId` is
 * not one it lists, an `OpenEOError` for an error answer, and `invalid_response` for a body of another shape.
 */
export async function discoverSignIn(url: string, fetch: typeof globalThis.fetch, query: OpenEOSignInQuery): Promise<OpenEOSignInTarget> {
  const { providerId, clientId, flow, signal } = query;
  if (providerId !== undefined && (typeof providerId !== 'string' || !/^[\w-]+$/.test(providerId))) {
    throw new SessionError('invalid_options', "providerId must be the id of one of the back-end's OIDC providers");
  }
  if (clientId !== undefined && (typeof clientId !== 'string' || clientId === '')) throw new SessionError('invalid_options', 'clientId must be a non-empty string');
  const response = await boundedGet(fetch, `${url}/credentials/oidc`, signal);
  if (!response.ok) throw await openEOErrorOf(response);
  const { providers } = parseBody(`${SERVICE} /credentials/oidc`, await response.text(), signInSchema);
  const provider = providerId === undefined ? providers[0] : providers.find((each) => each.id === providerId);
  if (provider === undefined) {
    const ids = providers.map((each) => each.id).join(', ');
    throw providerId === undefined
      ? new SessionError('unsupported_provider', `The ${SERVICE} back-end lists no OIDC provider (GET /credentials/oidc): it offers no sign-in`)
      : new SessionError('invalid_options', `The ${SERVICE} back-end has no OIDC provider "${providerId}" (providers: ${ids || 'none'})`);
  }
  const grants: readonly string[] = OPENEO_GRANTS[flow];
  const allows = (client: { grant_types: string[] }): boolean => client.grant_types.some((grant) => grants.includes(grant));
  const clients = provider.default_clients ?? [];
  const listed = clientId === undefined ? clients.find(allows) : clients.find((each) => each.id === clientId);
  // PKCE when the client's grant is listed with `+pkce` (the back-end registered the client so); openEO's Python
  // client decides the same way.
  const pkce = listed !== undefined && listed.grant_types.some((grant) => grant.endsWith('+pkce') && grants.includes(grant));
  const scopes = new Set(provider.scopes ?? []);
  scopes.add('openid');
  scopes.add('offline_access');
  return { providerId: provider.id, issuer: provider.issuer.replace(/\/+$/, ''), clientId: clientId ?? listed?.id, scope: [...scopes].join(' '), pkce };
}
