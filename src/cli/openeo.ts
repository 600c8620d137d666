import ky from 'ky';
import * as z from 'zod/mini';
import { CliError, usageError } from './cli-error.js';
import { EXIT } from './exit-codes.js';
import { printable } from './arguments.js';

/** The grant types of openEO's `default_clients` (openEO API 1.x, `GET /credentials/oidc`). */
export const OPENEO_GRANTS = {
  device: ['urn:ietf:params:oauth:grant-type:device_code+pkce', 'urn:ietf:params:oauth:grant-type:device_code'],
  browser: ['authorization_code+pkce'],
} as const;

const providersSchema = z.object({
  providers: z.array(
    z.looseObject({
      id: z.string().check(z.regex(/^[\w-]+$/)),
      issuer: z.string(),
      title: z.optional(z.string()),
      scopes: z.optional(z.array(z.string())),
      default_clients: z.optional(
        z.array(z.looseObject({ id: z.string().check(z.minLength(1)), grant_types: z.array(z.string()), redirect_urls: z.optional(z.array(z.string())) })),
      ),
    }),
  ),
});

export interface OpenEOSignIn {
  readonly url: string;
  readonly providerId: string;
  readonly issuer: string;
  /** A default client of the back-end for this flow, when it lists one. */
  readonly clientId: string | undefined;
  readonly scope: string;
}

/**
 * What an openEO back-end says about signing in: its OIDC providers (`GET /credentials/oidc`), the one asked for (or
 * the first listed, as openEO's own clients pick), and a default client that allows `flow`.
 */
export async function discoverOpenEO(url: string, providerId: string | undefined, flow: 'device' | 'browser', timeout = 10_000): Promise<OpenEOSignIn> {
  const root = apiRoot(url);
  let body: unknown;
  try {
    body = await ky.get(`${root}/credentials/oidc`, { timeout, retry: 1, headers: { accept: 'application/json' } }).json();
  } catch (error) {
    const { name } = error as { name?: string };
    if (name === 'HTTPError') throw new CliError(EXIT.failure, `the openEO back-end answered ${(error as { response: Response }).response.status} for /credentials/oidc`);
    if (name === 'TimeoutError') throw new CliError(EXIT.network, 'the openEO back-end did not answer in time for /credentials/oidc');
    if (name === 'SyntaxError') throw new CliError(EXIT.failure, 'the openEO back-end\'s /credentials/oidc is not JSON');
    throw new CliError(EXIT.network, 'the openEO back-end could not be reached');
  }
  const parsed = providersSchema.safeParse(body);
  if (!parsed.success) throw new CliError(EXIT.failure, 'the openEO back-end\'s /credentials/oidc is not the shape openEO specifies');
  const { providers } = parsed.data;
  const provider = providerId === undefined ? providers[0] : providers.find((each) => each.id === providerId);
  if (provider === undefined) {
    const ids = providers.map((each) => each.id).join(', ') || 'none';
    throw usageError(providerId === undefined ? 'the openEO back-end lists no OIDC provider' : `the openEO back-end has no OIDC provider "${printable(providerId)}" (providers: ${ids})`);
  }
  const grants: readonly string[] = OPENEO_GRANTS[flow];
  const client = provider.default_clients?.find((each) => each.grant_types.some((grant) => grants.includes(grant)));
  const scopes = new Set(provider.scopes ?? ['openid']);
  scopes.add('openid');
  scopes.add('offline_access');
  return { url: root, providerId: provider.id, issuer: provider.issuer.replace(/\/+$/, ''), clientId: client?.id, scope: [...scopes].join(' ') };
}

/** The back-end's API root: an absolute `https:` URL (`http:` on loopback), without a trailing slash, query or hash. */
export function apiRoot(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError('--openeo must be an absolute URL');
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) throw usageError('--openeo must be an https: URL (http: only on this machine)');
  if (parsed.username !== '' || parsed.password !== '') throw usageError('--openeo must not hold a user name or password');
  parsed.search = '';
  parsed.hash = '';
  return parsed.href.replace(/\/+$/, '');
}
