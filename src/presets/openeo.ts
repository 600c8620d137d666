import * as z from 'zod/mini';
import { createClient, fetchWithToken } from '../client.js';
import { refuseUserinfo } from '../providers/client-credentials.js';
import { createSession, SessionError, type Session, type Token } from '../index.js';
import { parseBody } from './api-call.js';
import { basicProvider, discoverProviders, issuerOf, pickProvider } from './openeo-credentials.js';
import { acceptsBareJwt } from './openeo-conformance.js';
import { defined, linkSchema, openEOCall, SERVICE, tokenInvalidAs401 } from './openeo-errors.js';
import type { DeviceSession } from '../node.js';
// Node and Deno: the device sign-in; elsewhere a stub that refuses it (package.json `imports`), so that a browser
// bundle holds neither it nor the Node built-ins it needs.
import { openEODeviceSession } from '#openeo-device';
import type { OpenEODeviceSessionHandle } from './openeo-device-session.js';
import type {
  OpenEO,
  OpenEOCapabilities,
  OpenEOCollection,
  OpenEOCollections,
  OpenEODeviceOptions,
  OpenEOJob,
  OpenEOJobResults,
  OpenEOJobs,
  OpenEOOptions,
  OpenEOProcess,
  OpenEOProcessGraph,
} from './openeo-types.js';

export type * from './openeo-types.js';
export { OpenEOError, openEOErrorOf } from './openeo-errors.js';

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
  // `z.literal` with the values accepts what `z.enum` does, with code the bundle already has.
  status: z.literal(['created', 'queued', 'running', 'canceled', 'finished', 'error']),
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
 * With `signIn: 'device'` (Node and Deno), the person signs in with the device flow at the provider and default
 * client the back-end lists — once for every process of this user and every later run — on first use.
 *
 * @example
 * const backend = openEO({ url: 'https://openeo.dataspace.copernicus.eu/openeo/1.2', provider });
 * const me = await (await backend.fetch('me')).json();
 * @example
 * const backend = openEO({ url: 'https://openeo.dataspace.copernicus.eu/openeo/1.2', signIn: 'device' });
 * const results = await backend.jobs.results('j-2406'); // prompts once (stderr) when no process is signed in
 */
export function openEO(options: OpenEODeviceOptions): OpenEO<DeviceSession>;
export function openEO(options: OpenEOOptions): OpenEO;
export function openEO(options: OpenEOOptions): OpenEO {
  const url = apiRoot(options.url);
  const { fetch } = options;
  const plainFetch = fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  let session: Session;
  let owned = true;
  const basic = options.basic !== undefined;
  let device: OpenEODeviceSessionHandle | undefined;
  if (options.signIn !== undefined) {
    device = openEODeviceSession(url, options, plainFetch);
    session = device;
  } else if (options.session !== undefined) {
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
  const idFor = async (token: Token): Promise<string> =>
    given ?? (device === undefined ? pickProvider(await discover(), issuerOf(token.accessToken)) : device.providerId());
  const bearer = options.bearer;
  if (bearer !== undefined && bearer !== 'jwt' && bearer !== 'openeo') {
    throw new SessionError('invalid_options', "bearer must be 'jwt' (API 1.3's bare JWT) or 'openeo' (oidc/<provider id>/<token>)");
  }
  let bareJwt: Promise<boolean | undefined> | undefined = bearer === undefined ? undefined : Promise.resolve(bearer === 'jwt');
  const conformsToJwt = async (): Promise<boolean> => {
    const known = (bareJwt ??= acceptsBareJwt(url, plainFetch));
    // Capabilities not read (unreachable, an error status): openEO's own format this time, and the next call asks again.
    const answer = await known.catch(() => undefined);
    if (answer === undefined && bareJwt === known) bareJwt = undefined;
    return answer === true;
  };
  const prefixed = basic
    ? (token: Token) => `Bearer basic//${token.accessToken}`
    : async (token: Token) => `Bearer oidc/${await idFor(token)}/${token.accessToken}`;
  // API 1.3 back-ends with the JWT conformance class take the access token as it is (openEO's clients check the same).
  const authorization = async (token: Token): Promise<string> => ((await conformsToJwt()) ? `Bearer ${token.accessToken}` : prefixed(token));
  const send = (request: Request, init?: RequestInit): Promise<Response> => tokenInvalidAs401(plainFetch(request, init));

  // The device sign-in waits for a person (minutes): before ky's timeout starts (beforeRequest hooks run outside it).
  const signedIn = device === undefined ? [] : [async (request: Request): Promise<void> => void (await device.getToken({ signal: request.signal }))];
  const client = createClient(session, {
    ...options.client,
    ...(device !== undefined && { hooks: { ...options.client?.hooks, beforeRequest: [...signedIn, ...(options.client?.hooks?.beforeRequest ?? [])] } }),
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
      if (device !== undefined) return device.providerId(signal);
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

function apiRoot(value: unknown): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new SessionError('invalid_options', 'url must be the absolute http(s) URL of an openEO API root');
  }
  refuseUserinfo('url', new URL(value));
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
  // An API root at the origin (`https://host`) has the path `/`: everything on the origin is under it.
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const under = target.pathname === base.pathname || target.pathname.startsWith(prefix);
  if (target.origin !== base.origin || !under || target.username !== '' || target.password !== '') throw outside();
  const rest = target.pathname.slice(prefix.length).split('/');
  // `..;x` is `..` to Tomcat, Jetty and Spring (a path parameter, `;` or `%3b`, is dropped before dot segments go).
  const dots = (segment: string): boolean => /^(\.|%2e){1,2}$/i.test(segment.split(/;|%3b/i)[0]!);
  if (rest.some((segment) => /%(2f|5c)/i.test(segment) || dots(segment))) throw outside();
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
