import type { KyInstance } from 'ky';
import * as z from 'zod/mini';
import { createClient, fetchWithToken, type ClientOptions } from '../client.js';
import {
  createSession,
  SessionError,
  type Clock,
  type Session,
  type Sharing,
  type Token,
  type TokenProvider,
  type TokenRequestOptions,
} from '../index.js';
import { credentialKey, requireString, secretDigest } from '../providers/client-credentials.js';
import { parseTokenResponse, sendWithRetries } from '../providers/token-request.js';
import { apiCall, parseBody } from './api-call.js';

/** Options shared by every way of giving `openEO` its credentials. */
export interface OpenEOBaseOptions {
  /** The back-end's API root, with its version: e.g. `https://openeo.dataspace.copernicus.eu/openeo/1.2`. */
  readonly url: string;
  /** More options for the API client (ky's, plus `maxRetryAfter`): `timeout`, `retry`, `hooks`… */
  readonly client?: ClientOptions | undefined;
  /** The fetch for API requests, discovery and (with `provider` or `basic`) token requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
}

/** Session options `openEO` passes on when it creates the session. */
export interface OpenEOSessionSettings {
  /** Refresh this long (ms) before expiry. Default 120 000. */
  readonly refreshBeforeExpiry?: number | undefined;
  /** How the token is shared between contexts. Default: the best transport for the runtime. */
  readonly sharing?: Sharing | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
}

/** openEO with an OpenID Connect access token from any provider (`Bearer oidc/<provider id>/<token>`). */
export interface OpenEOProviderOptions extends OpenEOBaseOptions, OpenEOSessionSettings {
  /** Where tokens come from: `clientCredentials` (CDSE), `jwtClientCredentials`, a sign-in… `openEO` owns the session. */
  readonly provider: TokenProvider;
  /**
   * The id of the back-end's OIDC provider (`GET /credentials/oidc`) that issues the tokens. Default: the provider whose
   * `issuer` is the token's `iss` (tokens that are JWTs), or the only one listed.
   */
  readonly providerId?: string | undefined;
  readonly session?: never;
  readonly basic?: never;
}

/** openEO on a session the caller owns (e.g. a pooled one, or a sign-in); `close()` leaves it open. */
export interface OpenEOSessionOptions extends OpenEOBaseOptions {
  readonly session: Session;
  /** As for `provider`. */
  readonly providerId?: string | undefined;
  readonly provider?: never;
  readonly basic?: never;
}

/** openEO's own HTTP Basic login (`GET /credentials/basic`), for back-ends that offer it (`Bearer basic//<token>`). */
export interface OpenEOBasicOptions extends OpenEOBaseOptions, OpenEOSessionSettings, TokenRequestOptions {
  /** Kept in the provider's closure: never stored, broadcast or logged; the credential key holds a SHA-256 of the password. */
  readonly basic: { readonly username: string; readonly password: string };
  readonly provider?: never;
  readonly session?: never;
  readonly providerId?: never;
}

/** What `openEO` takes: a `provider`, a `session`, or `basic` credentials. */
export type OpenEOOptions = OpenEOProviderOptions | OpenEOSessionOptions | OpenEOBasicOptions;

/** Per-call options. */
export interface OpenEOCallOptions {
  /** Aborts this call (`aborted`); the shared token request goes on for other callers. */
  readonly signal?: AbortSignal | undefined;
}

/** A process graph node: `{ process_id, arguments, result? }`. */
export interface OpenEOProcessNode {
  readonly process_id: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly namespace?: string | null | undefined;
  readonly result?: boolean | undefined;
  readonly [field: string]: unknown;
}

/** A process graph: nodes by name, one of them with `result: true`. */
export type OpenEOProcessGraph = Readonly<Record<string, OpenEOProcessNode>>;

/** A (user-defined) process: its graph, and whatever metadata comes with it. */
export interface OpenEOProcess {
  readonly process_graph: OpenEOProcessGraph;
  readonly [field: string]: unknown;
}

/** `GET /`: what the back-end is and which endpoints it offers. */
export interface OpenEOCapabilities {
  readonly api_version: string;
  readonly backend_version: string;
  readonly stac_version: string;
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly endpoints: ReadonlyArray<{ readonly path: string; readonly methods: readonly string[] }>;
  readonly links: ReadonlyArray<{ readonly href: string; readonly rel?: string | undefined; readonly [field: string]: unknown }>;
  readonly production?: boolean | undefined;
  readonly billing?: { readonly currency: string | null; readonly [field: string]: unknown } | undefined;
  readonly [field: string]: unknown;
}

/** A collection (STAC Collection) as `GET /collections` and `GET /collections/{id}` describe it. */
export interface OpenEOCollection {
  readonly id: string;
  readonly title?: string | undefined;
  readonly description: string;
  readonly license?: string | undefined;
  readonly extent?: { readonly spatial?: unknown; readonly temporal?: unknown; readonly [field: string]: unknown } | undefined;
  readonly links?: ReadonlyArray<{ readonly href: string; readonly rel?: string | undefined; readonly [field: string]: unknown }> | undefined;
  readonly 'cube:dimensions'?: Readonly<Record<string, unknown>> | undefined;
  readonly summaries?: Readonly<Record<string, unknown>> | undefined;
  readonly [field: string]: unknown;
}

/** `GET /collections`. */
export interface OpenEOCollections {
  readonly collections: readonly OpenEOCollection[];
  readonly links: ReadonlyArray<{ readonly href: string; readonly rel?: string | undefined; readonly [field: string]: unknown }>;
  readonly [field: string]: unknown;
}

/** A batch job's state. */
export type OpenEOJobStatus = 'created' | 'queued' | 'running' | 'canceled' | 'finished' | 'error';

/** A batch job (`GET /jobs/{id}`, and the entries of `GET /jobs`). */
export interface OpenEOJob {
  readonly id: string;
  readonly status: OpenEOJobStatus;
  readonly created: string;
  readonly title?: string | null | undefined;
  readonly description?: string | null | undefined;
  readonly updated?: string | undefined;
  readonly progress?: number | undefined;
  readonly costs?: number | null | undefined;
  readonly process?: OpenEOProcess | undefined;
  readonly [field: string]: unknown;
}

/** `GET /jobs/{id}/results`: a STAC Item or Collection whose `assets` are the result files. */
export interface OpenEOJobResults {
  readonly assets: Readonly<Record<string, { readonly href: string; readonly type?: string | undefined; readonly roles?: readonly string[] | undefined; readonly [field: string]: unknown }>>;
  readonly [field: string]: unknown;
}

/** Options of `jobs.create`. */
export interface OpenEOJobOptions extends OpenEOCallOptions {
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly plan?: string | undefined;
  readonly budget?: number | undefined;
  /** More fields of the job (back-end specific, e.g. `job_options`). */
  readonly extra?: Readonly<Record<string, unknown>> | undefined;
}

/** Batch jobs: create, start, look at, fetch results of, cancel and delete. */
export interface OpenEOJobs {
  /** `POST /jobs`: creates a job (not started); returns its id, from `OpenEO-Identifier` (or `Location`). */
  create(process: OpenEOProcess | OpenEOProcessGraph, options?: OpenEOJobOptions): Promise<{ readonly id: string }>;
  /** `POST /jobs/{id}/results`: queues the job. */
  start(id: string, options?: OpenEOCallOptions): Promise<void>;
  /** `GET /jobs/{id}`. */
  get(id: string, options?: OpenEOCallOptions): Promise<OpenEOJob>;
  /** `GET /jobs`: the user's jobs (first page). */
  list(options?: OpenEOCallOptions): Promise<{ readonly jobs: readonly OpenEOJob[]; readonly [field: string]: unknown }>;
  /** `GET /jobs/{id}/results`: the result assets of a finished job. */
  results(id: string, options?: OpenEOCallOptions): Promise<OpenEOJobResults>;
  /** `DELETE /jobs/{id}/results`: cancels a queued or running job. */
  cancel(id: string, options?: OpenEOCallOptions): Promise<void>;
  /** `DELETE /jobs/{id}`. */
  delete(id: string, options?: OpenEOCallOptions): Promise<void>;
}

/** Options of `result`. */
export interface OpenEOResultOptions extends OpenEOCallOptions {
  /** `Accept` header. Default: whatever the process graph's `save_result` says. */
  readonly accept?: string | undefined;
}

/** An openEO back-end with the session's token. */
export interface OpenEO {
  readonly session: Session;
  /** The API root (no trailing slash). */
  readonly url: string;
  /** A ky instance on `url` that sends `Authorization: Bearer oidc/<id>/<token>` (or `basic//<token>`) with the 401 rule. */
  readonly client: KyInstance;
  /**
   * A plain `fetch` on the back-end: `path` relative to `url` (`'me'`, `'/jobs'`) or an absolute URL under it. Returns
   * the `Response` whatever its status, after the 401 rule (one refresh for every caller that saw the token, one retry).
   */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The OIDC provider id the bearer names (discovered once, on first use), or `undefined` with `basic`. */
  providerId(options?: OpenEOCallOptions): Promise<string | undefined>;
  /** `GET /`. */
  capabilities(options?: OpenEOCallOptions): Promise<OpenEOCapabilities>;
  /** `GET /collections` (first page). */
  collections(options?: OpenEOCallOptions): Promise<OpenEOCollections>;
  /** `GET /collections/{id}`. */
  collection(id: string, options?: OpenEOCallOptions): Promise<OpenEOCollection>;
  /** `POST /result`: runs the process synchronously and returns what it produced. */
  result(process: OpenEOProcess | OpenEOProcessGraph, options?: OpenEOResultOptions): Promise<Blob>;
  readonly jobs: OpenEOJobs;
  /** Closes the session if `openEO` created it; a session you passed in stays open. */
  close(): Promise<void>;
}

/** An openEO error response (`{ id, code, message, links? }`): `api_error` with the back-end's `code` and request `id`. */
export class OpenEOError extends SessionError {
  /** openEO's error `code`, e.g. `ProcessGraphInvalid`, `CollectionNotFound` (also in `apiStatus`). */
  declare readonly openEOCode?: string;
  /** The back-end's id for this request (`id`), for its logs and support. */
  declare readonly requestId?: string;
  /** `links` of the error body (documentation, often). */
  declare readonly links?: ReadonlyArray<{ readonly href: string; readonly [field: string]: unknown }>;

  constructor(message: string, details: { status: number; code?: string; id?: string; apiMessage?: string; links?: OpenEOError['links']; retryAfter?: number }) {
    super('api_error', message, { status: details.status, apiStatus: details.code, apiMessage: details.apiMessage, retryAfter: details.retryAfter });
    if (details.code !== undefined) Object.defineProperty(this, 'openEOCode', { value: details.code, enumerable: true });
    if (details.id !== undefined) Object.defineProperty(this, 'requestId', { value: details.id, enumerable: true });
    if (details.links !== undefined) Object.defineProperty(this, 'links', { value: details.links, enumerable: true });
  }
}

const SERVICE = 'openEO';
const MAX_MESSAGE = 500;

const linkSchema = z.looseObject({ href: z.string(), rel: z.optional(z.string()) });
const errorBodySchema = z.looseObject({
  id: z.optional(z.string()),
  code: z.optional(z.string()),
  message: z.optional(z.string()),
  links: z.optional(z.array(linkSchema)),
});
const oidcProvidersSchema = z.looseObject({
  providers: z.array(z.looseObject({ id: z.string().check(z.regex(/^[\w-]+$/)), issuer: z.string(), title: z.optional(z.string()) })),
});
const capabilitiesSchema = z.looseObject({
  api_version: z.string(),
  backend_version: z.string(),
  stac_version: z.string(),
  id: z.string(),
  title: z.string(),
  description: z.string(),
  endpoints: z.array(z.looseObject({ path: z.string(), methods: z.array(z.string()) })),
  links: z.array(linkSchema),
});
const collectionSchema = z.looseObject({ id: z.string(), description: z.string(), title: z.optional(z.string()) });
const collectionsSchema = z.looseObject({ collections: z.array(collectionSchema), links: z.array(linkSchema) });
const jobSchema = z.looseObject({
  id: z.string(),
  status: z.enum(['created', 'queued', 'running', 'canceled', 'finished', 'error']),
  created: z.string(),
});
const jobsSchema = z.looseObject({ jobs: z.array(jobSchema) });
const resultsSchema = z.looseObject({ assets: z.record(z.string(), z.looseObject({ href: z.string() })) });

/**
 * An openEO back-end (CDSE's openEO, VITO's, EODC's…) with the session's token: `Authorization: Bearer
 * oidc/<provider id>/<access token>`, the provider id found with `GET /credentials/oidc` (or given); or `Bearer
 * basic//<token>` from `GET /credentials/basic`. A 401 — and openEO's `403 TokenInvalid` — refreshes the token once
 * for every call that saw it and retries once.
 *
 * @example
 * const backend = openEO({ url: 'https://openeo.dataspace.copernicus.eu/openeo/1.2', provider });
 * const me = await (await backend.fetch('me')).json();
 */
export function openEO(options: OpenEOOptions): OpenEO {
  const url = apiRoot(options.url);
  const { fetch } = options;
  const plainFetch = fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  let session: Session;
  let owned = true;
  const basic = options.basic !== undefined;
  if (options.session !== undefined) {
    session = options.session;
    owned = false;
  } else {
    const provider =
      options.basic !== undefined ? basicProvider(url, options.basic, options) : options.provider;
    if (provider === undefined) throw new SessionError('invalid_options', 'openEO needs a provider, a session or basic credentials');
    const { refreshBeforeExpiry, sharing, clock, signal } = options;
    session = createSession({ provider, refreshBeforeExpiry, sharing, clock, fetch, signal });
  }

  const given = options.providerId;
  if (given !== undefined && (typeof given !== 'string' || !/^[\w-]+$/.test(given))) {
    throw new SessionError('invalid_options', 'providerId must be the id of one of the back-end\'s OIDC providers');
  }
  let providers: Promise<ReadonlyArray<{ id: string; issuer: string }>> | undefined;
  const discover = (): Promise<ReadonlyArray<{ id: string; issuer: string }>> => {
    providers ??= discoverProviders(url, plainFetch).catch((error: unknown) => {
      providers = undefined; // a failed discovery is tried again by the next call
      throw error;
    });
    return providers;
  };
  const idFor = async (token: Token): Promise<string> => given ?? pickProvider(await discover(), issuerOf(token.accessToken));
  const authorization = basic
    ? (token: Token) => `Bearer basic//${token.accessToken}`
    : async (token: Token) => `Bearer oidc/${await idFor(token)}/${token.accessToken}`;
  const send = (request: Request, init?: RequestInit): Promise<Response> => tokenInvalidAs401(plainFetch(request, init));

  const client = createClient(session, {
    ...options.client,
    prefixUrl: url,
    fetch: (input, init) => tokenInvalidAs401(plainFetch(input, init)),
    authorization,
  });

  const call = async <S extends z.ZodMiniType>(schema: S, request: () => Promise<string>): Promise<z.infer<S>> =>
    parseBody(SERVICE, await openEOCall(request), schema);
  const signalOf = (signal: AbortSignal | undefined): { signal?: AbortSignal } => (signal === undefined ? {} : { signal });
  const segment = (id: string, name: string): string => {
    if (typeof id !== 'string' || id === '' || id === '.' || id === '..') throw new SessionError('invalid_options', `${name} must be a non-empty id`);
    return encodeURIComponent(id);
  };

  const jobs: OpenEOJobs = {
    async create(process, { title, description, plan, budget, extra, signal } = {}) {
      const body = { ...extra, process: toProcess(process), ...defined({ title, description, plan, budget }) };
      const response = await openEOCall(() => client.post('jobs', { json: body, ...signalOf(signal) }));
      void response.body?.cancel().catch(() => undefined);
      const id = response.headers.get('openeo-identifier') ?? /\/jobs\/([^/?#]+)\/?$/.exec(response.headers.get('location') ?? '')?.[1];
      if (id === undefined || id === '') throw new SessionError('invalid_response', 'openEO created the job but named no id (OpenEO-Identifier)');
      return { id: decodeURIComponent(id) };
    },
    async start(id, { signal } = {}) {
      await openEOCall(() => client.post(`jobs/${segment(id, 'id')}/results`, signalOf(signal)).text());
    },
    get: (id, { signal } = {}) => call(jobSchema, () => client.get(`jobs/${segment(id, 'id')}`, signalOf(signal)).text()) as Promise<OpenEOJob>,
    list: ({ signal } = {}) => call(jobsSchema, () => client.get('jobs', signalOf(signal)).text()) as Promise<{ jobs: OpenEOJob[] }>,
    results: (id, { signal } = {}) =>
      call(resultsSchema, () => client.get(`jobs/${segment(id, 'id')}/results`, signalOf(signal)).text()) as Promise<OpenEOJobResults>,
    async cancel(id, { signal } = {}) {
      await openEOCall(() => client.delete(`jobs/${segment(id, 'id')}/results`, signalOf(signal)).text());
    },
    async delete(id, { signal } = {}) {
      await openEOCall(() => client.delete(`jobs/${segment(id, 'id')}`, signalOf(signal)).text());
    },
  };

  return {
    session,
    url,
    client,
    async fetch(path, init) {
      return fetchWithToken(session, new Request(resolvePath(url, path), init), { fetch: send, authorization });
    },
    async providerId({ signal } = {}) {
      if (basic) return undefined;
      if (given !== undefined) return given;
      return idFor(await session.getToken(signalOf(signal)));
    },
    capabilities: ({ signal } = {}) => call(capabilitiesSchema, () => client.get('', signalOf(signal)).text()) as Promise<OpenEOCapabilities>,
    collections: ({ signal } = {}) => call(collectionsSchema, () => client.get('collections', signalOf(signal)).text()) as Promise<OpenEOCollections>,
    collection: (id, { signal } = {}) =>
      call(collectionSchema, () => client.get(`collections/${segment(id, 'collection id')}`, signalOf(signal)).text()) as Promise<OpenEOCollection>,
    result(process, { accept, signal } = {}) {
      return openEOCall(() =>
        client
          .post('result', { json: { process: toProcess(process) }, ...(accept === undefined ? {} : { headers: { accept } }), ...signalOf(signal) })
          .blob(),
      );
    },
    jobs,
    close: () => (owned ? session.close() : Promise.resolve()),
  };
}

/** An API call through the client: openEO error bodies become `OpenEOError`s; the rest as every preset does it. */
function openEOCall<T>(call: () => Promise<T>): Promise<T> {
  return apiCall(SERVICE, async () => {
    try {
      return await call();
    } catch (error) {
      const response = (error as { name?: unknown; response?: Response } | null)?.name === 'HTTPError' ? (error as { response: Response }).response : undefined;
      throw response === undefined ? error : await openEOErrorOf(response);
    }
  });
}

/** The `OpenEOError` of a failed response, from its `{ id, code, message }` body (or just its status). */
export async function openEOErrorOf(response: Response): Promise<OpenEOError> {
  const { status } = response;
  const text = await response.text().catch(() => '');
  let body: z.infer<typeof errorBodySchema> | undefined;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) body = parsed.data;
  } catch {
    // Not JSON: a proxy's page. The status is all there is.
  }
  const apiMessage = body?.message?.slice(0, MAX_MESSAGE);
  const what = body?.code === undefined ? `${status}` : `${body.code} (${status})`;
  const retryAfter = Number(response.headers.get('retry-after'));
  return new OpenEOError(`${SERVICE} refused the request: ${what}${apiMessage ? `: ${apiMessage}` : ''}`, {
    status,
    ...defined({ code: body?.code, id: body?.id, apiMessage, links: body?.links }),
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter: retryAfter * 1000 } : {}),
  });
}

/**
 * openEO answers an expired or revoked token with `403` and code `TokenInvalid` (`401` is for a missing one). Such an
 * answer is handed to the 401 rule as the 401 it means, so that the token is refreshed once for everyone.
 */
async function tokenInvalidAs401(pending: Promise<Response>): Promise<Response> {
  const response = await pending;
  if (response.status !== 403 || !(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let code: unknown;
  try {
    code = (JSON.parse(text) as { code?: unknown } | null)?.code;
  } catch {
    code = undefined;
  }
  const status = code === 'TokenInvalid' ? 401 : 403;
  return new Response(text, { status, statusText: status === 401 ? 'Unauthorized' : response.statusText, headers: response.headers });
}

async function discoverProviders(url: string, fetch: typeof globalThis.fetch): Promise<ReadonlyArray<{ id: string; issuer: string }>> {
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), 10_000);
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${url}/credentials/oidc`, { headers: { accept: 'application/json' }, signal: timer.signal });
    text = await response.text();
  } catch (error) {
    const timedOut = timer.signal.aborted;
    throw new SessionError(timedOut ? 'timeout' : 'endpoint_unavailable', `${SERVICE} ${timedOut ? 'did not answer' : 'could not be reached'} for /credentials/oidc`, {
      cause: error,
    });
  } finally {
    clearTimeout(timeout);
  }
  if (!response.ok) throw await openEOErrorOf(new Response(text, { status: response.status, headers: response.headers }));
  return parseBody(`${SERVICE} /credentials/oidc`, text, oidcProvidersSchema).providers;
}

function pickProvider(providers: ReadonlyArray<{ id: string; issuer: string }>, issuer: string | undefined): string {
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
function issuerOf(accessToken: string): string | undefined {
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
function basicProvider(url: string, credentials: { username: string; password: string }, options: TokenRequestOptions): TokenProvider {
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

function apiRoot(value: unknown): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new SessionError('invalid_options', 'url must be the absolute http(s) URL of an openEO API root');
  }
  return value.replace(/\/+$/, '');
}

/**
 * `path` relative to the API root, or an absolute URL under it: the token goes nowhere else. The URL is resolved and
 * normalised first (dot segments, `%2e%2e`, backslashes, as the WHATWG parser and most servers read them), and the
 * check is made on what would be sent; a segment that a server could still decode into `..` or a slash is refused.
 */
function resolvePath(root: string, path: string): string {
  if (typeof path !== 'string') throw new SessionError('invalid_options', 'path must be a string');
  const outside = (): SessionError => new SessionError('invalid_options', 'openEO fetch: the URL must be under the back-end\'s url');
  const raw = /^[a-z][a-z\d+.-]*:/i.test(path) ? path : `${root}/${path.replace(/^[\\/]+/, '')}`;
  if (!URL.canParse(raw)) throw outside();
  const target = new URL(raw);
  const base = new URL(root);
  const under = target.pathname === base.pathname || target.pathname.startsWith(`${base.pathname}/`);
  if (target.origin !== base.origin || !under || target.username !== '' || target.password !== '') throw outside();
  const rest = target.pathname.slice(base.pathname.length).split('/');
  if (rest.some((segment) => /%(2f|5c)/i.test(segment) || /^(\.|%2e){1,2}$/i.test(segment))) throw outside();
  return target.href;
}

function toProcess(process: OpenEOProcess | OpenEOProcessGraph): OpenEOProcess {
  const value = process as { process_graph?: unknown };
  const wrapped = value !== null && typeof value === 'object' && typeof value.process_graph === 'object' ? (process as OpenEOProcess) : { process_graph: process as OpenEOProcessGraph };
  const nodes = Object.values(wrapped.process_graph ?? {});
  if (nodes.length === 0 || !nodes.every((node) => typeof node === 'object' && node !== null && typeof node.process_id === 'string')) {
    throw new SessionError('invalid_options', 'process must be a process graph: nodes with process_id and arguments');
  }
  return wrapped;
}

function defined<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
