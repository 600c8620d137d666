import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';

/*
 * A local stand-in for an openEO back-end (API 1.2 at `/openeo/1.2`, and API 1.3 with the JWT conformance class at
 * `/openeo/1.3`, both listed in `/.well-known/openeo`), as the openEO API specification describes it: capabilities,
 * `GET /credentials/oidc` (provider discovery), `GET /credentials/basic`, `/me`, collections, synchronous `POST
 * /result` and batch jobs. Authentication as the spec has it: `Bearer oidc/<provider id>/<token>` or `Bearer
 * basic//<token>`; no token → 401 `AuthenticationRequired`, another scheme → 403 `AuthenticationSchemeInvalid`, an
 * expired or unknown token → 403 `TokenInvalid` (or 401, with `rejectWith401`). Errors are `{id, code, message, links}`.
 */

export interface OpenEOOidcProvider {
  readonly id: string;
  readonly issuer: string;
  readonly title: string;
  /** Decides which access tokens this provider issued (and which are still valid): an introspection, perhaps. */
  readonly isValid: (token: string) => boolean | Promise<boolean>;
  /** Its scopes in `/credentials/oidc`. Default `['openid']`. */
  readonly scopes?: readonly string[];
  /** Its `default_clients` in `/credentials/oidc` (openEO API 1.x). Default none. */
  readonly defaultClients?: ReadonlyArray<{ readonly id: string; readonly grant_types: readonly string[] }>;
}

export interface OpenEOServer {
  readonly origin: string;
  /** `${origin}/openeo/1.2`, the API root. */
  readonly url: string;
  /** `${origin}/openeo/1.3`: API 1.3 with the `authentication/jwt` class (only a bare JWT bearer is accepted there). */
  readonly url13: string;
  /** What `/.well-known/openeo` answers: both versions (1.3 marked production or not), only unsupported ones, or 404. */
  wellKnown: 'both' | 'both, 1.3 not production' | 'only 2.x' | 'none';
  /** API 1.3 lists its conformance classes on a linked `/conformance` page instead of in `conformsTo`. */
  conformanceByLink: boolean;
  /** Every Authorization header received, in order, by path. */
  readonly authorizations: Array<{ path: string; authorization: string | undefined }>;
  readonly stats: { discovery: number; basicLogins: number; rejected: number; assetDownloads: number };
  /** A finished batch job with `assets` result files (`GET /jobs/{id}/results` lists them, under the API root). */
  finishedJob(assets: number): string;
  /** Answer an invalid token with 401 instead of openEO's 403 TokenInvalid. */
  rejectWith401: boolean;
  /** Delay of every answer (ms). */
  latency: number;
  /** A JWT-shaped access token from `issuer` (unsigned: the stand-in keeps its own list), valid for `lifetime` s. */
  mint(issuer: string, lifetime?: number): string;
  /** Makes every minted token invalid (a revocation, or a back-end that lost its sessions). */
  revokeMinted(): void;
  reset(): void;
  close(): Promise<void>;
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

export const OPENEO_BASIC_USER = { username: 'alice', password: 'openeo-basic-p4ss' };

export async function startOpenEOServer(providers: (mintedValid: (token: string) => boolean) => OpenEOOidcProvider[]): Promise<OpenEOServer> {
  const minted = new Map<string, { issuer: string; expiresAt: number }>();
  const mintedValid = (token: string): boolean => {
    const record = minted.get(token);
    return record !== undefined && record.expiresAt > Date.now();
  };
  const list = providers(mintedValid);
  const basicTokens = new Set<string>();
  const jobs = new Map<string, { id: string; status: string; created: string; title?: string; process: unknown; assets?: number }>();
  const authorizations: OpenEOServer['authorizations'] = [];
  const stats = { discovery: 0, basicLogins: 0, rejected: 0, assetDownloads: 0 };
  const state = { rejectWith401: false, latency: 0, wellKnown: 'both' as OpenEOServer['wellKnown'], conformanceByLink: false };

  const fail = (res: ServerResponse, status: number, code: string, message: string): void => {
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id: randomUUID(), code, message, links: [{ href: `https://openeo.org/documentation/1.0/developers/api/errors.html#${code}`, rel: 'about' }] }));
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

  /** Who the request authenticates as, or undefined after answering the error. */
  const authenticate = async (req: IncomingMessage, res: ServerResponse, path: string, jwt: boolean): Promise<string | undefined> => {
    const header = req.headers.authorization;
    authorizations.push({ path, authorization: header });
    if (header === undefined) return void fail(res, 401, 'AuthenticationRequired', 'Unauthorized.');
    if (jwt) {
      // API 1.3's JWT class: the bearer is the access token itself; its `iss` names the provider.
      const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(header)?.[1];
      if (token === undefined) return void fail(res, 403, 'AuthenticationSchemeInvalid', 'Invalid authentication scheme.');
      const issuer = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iss?: string }).iss;
      const provider = list.find((each) => each.issuer === issuer);
      if (provider === undefined || !(await provider.isValid(token))) {
        stats.rejected++;
        return void fail(res, 403, 'TokenInvalid', 'Authorization token has expired or is invalid. Please authenticate again.');
      }
      return `oidc:${provider.id}`;
    }
    const oidc = /^Bearer oidc\/([^/]+)\/(.+)$/.exec(header);
    const basic = /^Bearer basic\/\/(.+)$/.exec(header);
    let valid = false;
    if (oidc !== null) {
      const provider = list.find((each) => each.id === oidc[1]);
      if (provider === undefined) return void fail(res, 403, 'CredentialsInvalid', `Unknown OIDC provider: ${oidc[1]}`);
      valid = await provider.isValid(oidc[2]!);
    } else if (basic !== null) {
      valid = basicTokens.has(basic[1]!);
    } else {
      return void fail(res, 403, 'AuthenticationSchemeInvalid', 'Invalid authentication scheme.');
    }
    if (!valid) {
      stats.rejected++;
      return void (state.rejectWith401
        ? fail(res, 401, 'TokenInvalid', 'Authorization token has expired or is invalid. Please authenticate again.')
        : fail(res, 403, 'TokenInvalid', 'Authorization token has expired or is invalid. Please authenticate again.'));
    }
    return oidc === null ? 'basic:alice' : `oidc:${oidc[1]}`;
  };

  const validGraph = (body: unknown): boolean => {
    const graph = (body as { process?: { process_graph?: Record<string, { process_id?: unknown; result?: unknown }> } } | undefined)?.process?.process_graph;
    if (graph === undefined || typeof graph !== 'object') return false;
    const nodes = Object.values(graph);
    return nodes.length > 0 && nodes.every((node) => typeof node.process_id === 'string') && nodes.filter((node) => node.result === true).length === 1;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = await readBody(req);
    if (state.latency > 0) await new Promise((resolve) => setTimeout(resolve, state.latency));
    const host = `http://${req.headers.host}`;
    if (url.pathname === '/.well-known/openeo') {
      if (state.wellKnown === 'none') return fail(res, 404, 'NotFound', 'Not found.');
      const unsupported = [
        { url: `${host}/openeo/0.4`, api_version: '0.4.2', production: true },
        { url: `${host}/openeo/2.0`, api_version: '2.0.0', production: true },
      ];
      if (state.wellKnown === 'only 2.x') return json(res, 200, { versions: unsupported });
      return json(res, 200, {
        versions: [
          { url: `${host}/openeo/1.2`, api_version: '1.2.0', production: true },
          ...unsupported,
          { url: `${host}/openeo/1.3`, api_version: '1.3.0', production: state.wellKnown === 'both' },
          { url: `${host}/openeo/1.3-rc`, api_version: '1.3.0-rc.1', production: state.wellKnown === 'both' },
        ],
      });
    }
    const version = /^\/openeo\/(1\.2|1\.3)(?=\/|$)/.exec(url.pathname)?.[1];
    if (version === undefined) return fail(res, 404, 'NotFound', 'Not found.');
    const prefix = `/openeo/${version}`;
    const jwt = version === '1.3';
    const path = url.pathname.slice(prefix.length) || '/';
    const method = req.method ?? 'GET';
    const conformsTo = ['https://api.openeo.org/1.3.0', ...(jwt ? ['https://api.openeo.org/1.3.0/authentication/jwt'] : [])];
    if (path === '/conformance' && method === 'GET') return json(res, 200, { conformsTo });
    if (path === '/' && method === 'GET') {
      return json(res, 200, {
        api_version: jwt ? '1.3.0' : '1.2.0',
        ...(jwt && !state.conformanceByLink ? { conformsTo } : {}),
        backend_version: '0.66.0',
        stac_version: '1.0.0',
        id: 'stand-in',
        title: 'openEO stand-in',
        description: 'A local openEO back-end for tests.',
        production: false,
        endpoints: [
          { path: '/credentials/oidc', methods: ['GET'] },
          { path: '/credentials/basic', methods: ['GET'] },
          { path: '/me', methods: ['GET'] },
          { path: '/collections', methods: ['GET'] },
          { path: '/result', methods: ['POST'] },
          { path: '/jobs', methods: ['GET', 'POST'] },
        ],
        billing: { currency: 'credits' },
        links: [
          { href: `http://${req.headers.host}${prefix}/`, rel: 'self' },
          ...(jwt && state.conformanceByLink ? [{ href: `${prefix}/conformance`, rel: 'conformance' }] : []),
        ],
      });
    }
    if (path === '/credentials/oidc' && method === 'GET') {
      stats.discovery++;
      return json(res, 200, {
        providers: list.map(({ id, issuer, title, scopes = ['openid'], defaultClients = [] }) => ({ id, issuer, title, scopes, default_clients: defaultClients })),
      });
    }
    if (path === '/credentials/basic' && method === 'GET') {
      stats.basicLogins++;
      const expected = `Basic ${Buffer.from(`${OPENEO_BASIC_USER.username}:${OPENEO_BASIC_USER.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return fail(res, 403, 'CredentialsInvalid', 'Credentials are not correct.');
      const token = randomBytes(16).toString('hex');
      basicTokens.add(token);
      return json(res, 200, { access_token: token });
    }
    if (path === '/collections' && method === 'GET') {
      return json(res, 200, {
        collections: [
          { stac_version: '1.0.0', type: 'Collection', id: 'SENTINEL2_L2A', title: 'Sentinel-2 L2A', description: 'Sentinel-2 surface reflectance', license: 'proprietary', extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [['2015-07-04T00:00:00Z', null]] } }, links: [] },
          { stac_version: '1.0.0', type: 'Collection', id: 'COPERNICUS_30', description: 'Copernicus DEM GLO-30', license: 'proprietary', links: [] },
        ],
        links: [],
      });
    }
    const collection = /^\/collections\/([^/]+)$/.exec(path);
    if (collection !== null && method === 'GET') {
      const id = decodeURIComponent(collection[1]!);
      if (id !== 'SENTINEL2_L2A') return fail(res, 404, 'CollectionNotFound', `Collection '${id}' does not exist.`);
      return json(res, 200, { stac_version: '1.0.0', type: 'Collection', id, description: 'Sentinel-2 surface reflectance', license: 'proprietary', links: [], 'cube:dimensions': { bands: { type: 'bands', values: ['B02', 'B03', 'B04'] } } });
    }
    // Everything below needs authentication.
    const user = await authenticate(req, res, path, jwt);
    if (user === undefined) return;
    const body = text === '' ? undefined : (JSON.parse(text) as unknown);
    if (path === '/me' && method === 'GET') return json(res, 200, { user_id: user, name: 'Alice' });
    if (path === '/result' && method === 'POST') {
      if (!validGraph(body)) return fail(res, 400, 'ProcessGraphInvalid', 'Invalid process graph specified.');
      res.writeHead(200, { 'content-type': 'image/png', 'openeo-costs': '1' }).end(PNG);
      return;
    }
    if (path === '/jobs' && method === 'POST') {
      if (!validGraph(body)) return fail(res, 400, 'ProcessGraphInvalid', 'Invalid process graph specified.');
      const id = `j-${randomBytes(6).toString('hex')}`;
      const { title, process } = body as { title?: string; process: unknown };
      jobs.set(id, { id, status: 'created', created: new Date().toISOString(), ...(title === undefined ? {} : { title }), process });
      res.writeHead(201, { location: `http://${req.headers.host}${prefix}/jobs/${id}`, 'openeo-identifier': id }).end();
      return;
    }
    if (path === '/jobs' && method === 'GET') {
      return json(res, 200, { jobs: [...jobs.values()].map(({ process: _process, ...job }) => job), links: [] });
    }
    const asset = /^\/jobs\/([^/]+)\/results\/assets\/([^/]+)$/.exec(path);
    if (asset !== null && method === 'GET') {
      const record = jobs.get(decodeURIComponent(asset[1]!));
      if (record === undefined || record.status !== 'finished') return fail(res, 404, 'JobNotFound', 'The batch job does not exist.');
      stats.assetDownloads++;
      res.writeHead(200, { 'content-type': 'image/tiff; application=geotiff' }).end(Buffer.concat([PNG, Buffer.from(asset[2]!)]));
      return;
    }
    const job = /^\/jobs\/([^/]+)(\/results)?$/.exec(path);
    if (job !== null) {
      const record = jobs.get(decodeURIComponent(job[1]!));
      if (record === undefined) return fail(res, 404, 'JobNotFound', 'The batch job does not exist.');
      const results = job[2] !== undefined;
      if (!results && method === 'GET') return json(res, 200, record);
      if (!results && method === 'DELETE') {
        jobs.delete(record.id);
        res.writeHead(204).end();
        return;
      }
      if (results && method === 'POST') {
        // Runs at once, as a back-end with an empty queue would.
        record.status = 'finished';
        res.writeHead(202).end();
        return;
      }
      if (results && method === 'GET') {
        if (record.status !== 'finished') return fail(res, 400, 'JobNotFinished', 'Job has not finished computing the results yet.');
        const names = (record.assets ?? 1) === 1 ? ['openEO.tif'] : Array.from({ length: record.assets ?? 1 }, (_, index) => `openEO_${index}.tif`);
        const assets = Object.fromEntries(
          names.map((name) => [name, { href: `http://${req.headers.host}${prefix}/jobs/${record.id}/results/assets/${name}`, type: 'image/tiff; application=geotiff', roles: ['data'] }]),
        );
        return json(res, 200, { stac_version: '1.0.0', type: 'Feature', id: record.id, assets, links: [] });
      }
      if (results && method === 'DELETE') {
        record.status = 'canceled';
        res.writeHead(204).end();
        return;
      }
    }
    fail(res, 404, 'NotFound', 'Not found.');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => fail(res, 500, 'Internal', String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    url: `${origin}/openeo/1.2`,
    url13: `${origin}/openeo/1.3`,
    authorizations,
    get wellKnown() {
      return state.wellKnown;
    },
    set wellKnown(value) {
      state.wellKnown = value;
    },
    get conformanceByLink() {
      return state.conformanceByLink;
    },
    set conformanceByLink(value) {
      state.conformanceByLink = value;
    },
    stats,
    finishedJob(assets) {
      const id = `j-${randomBytes(6).toString('hex')}`;
      jobs.set(id, { id, status: 'finished', created: new Date().toISOString(), process: {}, assets });
      return id;
    },
    get rejectWith401() {
      return state.rejectWith401;
    },
    set rejectWith401(value) {
      state.rejectWith401 = value;
    },
    get latency() {
      return state.latency;
    },
    set latency(value) {
      state.latency = value;
    },
    mint(issuer, lifetime = 600) {
      const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const token = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iss: issuer, sub: 'alice', iat: now, exp: now + lifetime, jti: randomUUID() })}.${randomBytes(32).toString('base64url')}`;
      minted.set(token, { issuer, expiresAt: Date.now() + lifetime * 1000 });
      return token;
    },
    revokeMinted() {
      minted.clear();
    },
    reset() {
      authorizations.length = 0;
      stats.discovery = 0;
      stats.basicLogins = 0;
      stats.rejected = 0;
      stats.assetDownloads = 0;
      state.rejectWith401 = false;
      state.latency = 0;
      state.wellKnown = 'both';
      state.conformanceByLink = false;
      jobs.clear();
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
