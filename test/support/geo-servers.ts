import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import type { TokenServer } from './token-server.js';

/*
 * Local stand-ins (real Node HTTP servers on 127.0.0.1) for the services the geo presets call, implementing the
 * documented request and response shapes and checking what the presets send: Sentinel Hub's Process, Catalog and
 * WMTS; the Earth Engine REST methods value:compute, maps.create, maps.tiles.get and assets.get; and SEPAL's
 * Google token refresh. Every call is counted.
 */

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const TIFF = Buffer.from('49492a00', 'hex');


function json(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType }).end(JSON.stringify(body));
}

function bearer(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice(7) : '';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Sentinel Hub: routes on the real token server (its client credentials grant issues the tokens checked here).

export interface SentinelHubStats {
  process: number;
  catalog: number;
  wmts: number;
  unauthorized: number;
  lastProcessAccept: string | undefined;
  lastCatalogBody: unknown;
}

const SH_COLLECTION_SIZE = 25;

function shError(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { status, reason: status === 401 ? 'Unauthorized' : 'Bad Request', message, code } });
}

/** Adds Process, Catalog and WMTS routes to `server`; returns live counters. */
export function addSentinelHubRoutes(server: TokenServer, instanceId: string): SentinelHubStats {
  const stats: SentinelHubStats = { process: 0, catalog: 0, wmts: 0, unauthorized: 0, lastProcessAccept: undefined, lastCatalogBody: undefined };
  const authorized = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (server.isValid(bearer(req))) return true;
    stats.unauthorized++;
    shError(res, 401, 'COMMON_UNAUTHORIZED', 'Unauthorized');
    return false;
  };

  server.route(async (req, res, url) => {
    if (url.pathname === '/api/v1/process' && req.method === 'POST') {
      const text = await readBody(req);
      if (!authorized(req, res)) return true;
      stats.process++;
      stats.lastProcessAccept = req.headers.accept;
      const body = parseJson(text) as { input?: { bounds?: object; data?: Array<{ type?: unknown }> }; evalscript?: unknown } | undefined;
      if (req.headers['content-type'] !== 'application/json' || body === undefined) {
        shError(res, 400, 'COMMON_BAD_PAYLOAD', 'Request body must be JSON');
      } else if (typeof body.evalscript !== 'string' || body.input?.bounds === undefined || !Array.isArray(body.input.data)) {
        shError(res, 400, 'COMMON_BAD_PAYLOAD', 'input.bounds, input.data and evalscript are required');
      } else if (body.input.data.some((source) => source.type === 'no-such-collection')) {
        shError(res, 400, 'RENDERER_EXCEPTION', 'Unknown collection type: no-such-collection');
      } else if (req.headers.accept === 'image/tiff') {
        res.writeHead(200, { 'content-type': 'image/tiff' }).end(TIFF);
      } else {
        res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
      }
      return true;
    }
    if (url.pathname === '/api/v1/catalog/1.0.0/search' && req.method === 'POST') {
      const text = await readBody(req);
      if (!authorized(req, res)) return true;
      stats.catalog++;
      const body = parseJson(text) as { collections?: unknown; datetime?: unknown; limit?: number; next?: number } | undefined;
      stats.lastCatalogBody = body;
      if (!String(req.headers.accept).includes('application/geo+json')) {
        shError(res, 400, 'COMMON_BAD_PAYLOAD', 'Accept must be application/geo+json');
        return true;
      }
      if (body === undefined || !Array.isArray(body.collections) || typeof body.datetime !== 'string') {
        shError(res, 400, 'COMMON_BAD_PAYLOAD', 'collections and datetime are required');
        return true;
      }
      if (url.searchParams.has('malformed') || body.collections.includes('malformed')) {
        json(res, 200, { type: 'FeatureCollection', features: [{ type: 'Feature', id: 7 }] }, 'application/geo+json');
        return true;
      }
      const limit = Math.min(body.limit ?? 10, 100);
      const start = body.next ?? 0;
      const count = Math.max(0, Math.min(limit, SH_COLLECTION_SIZE - start));
      const features = Array.from({ length: count }, (_, index) => ({
        stac_version: '1.0.0',
        type: 'Feature',
        id: `S2A_${String(start + index).padStart(3, '0')}`,
        collection: 'sentinel-2-l2a',
        geometry: { type: 'Polygon', coordinates: [[[13, 45], [14, 45], [14, 46], [13, 46], [13, 45]]] },
        bbox: [13, 45, 14, 46],
        properties: { datetime: '2024-06-01T10:00:00Z', 'eo:cloud_cover': (start + index) % 100, platform: 'sentinel-2a' },
        assets: { data: { href: `s3://bucket/${start + index}`, title: 's3' } },
        links: [{ href: `https://example.test/items/${start + index}`, rel: 'self', type: 'application/geo+json' }],
      }));
      const next = start + count < SH_COLLECTION_SIZE ? start + count : undefined;
      json(
        res,
        200,
        {
          type: 'FeatureCollection',
          features,
          links: [{ href: 'https://example.test/search', rel: 'self' }],
          context: { ...(next === undefined ? {} : { next }), limit, returned: count },
        },
        'application/geo+json',
      );
      return true;
    }
    const wmts = /^\/ogc\/wmts\/([^/]+)$/.exec(url.pathname);
    if (wmts !== null && req.method === 'GET') {
      stats.wmts++;
      const p = url.searchParams;
      const integer = (name: string): boolean => /^\d+$/.test(p.get(name) ?? '');
      const ok =
        wmts[1] === instanceId &&
        p.get('SERVICE') === 'WMTS' &&
        p.get('REQUEST') === 'GetTile' &&
        p.get('LAYER') !== null &&
        p.get('TILEMATRIXSET') === 'PopularWebMercator256' &&
        integer('TILEMATRIX') &&
        integer('TILEROW') &&
        integer('TILECOL');
      if (ok) res.writeHead(200, { 'content-type': p.get('FORMAT') ?? 'image/png' }).end(PNG);
      else res.writeHead(400, { 'content-type': 'text/xml' }).end('<ServiceExceptionReport/>');
      return true;
    }
    return false;
  });
  return stats;
}

// ---------------------------------------------------------------------------------------------------------------
// Earth Engine REST (v1): a tiny evaluator for Cloud API expressions, maps, tiles and assets.

export interface EarthEngineCall {
  readonly method: string;
  readonly path: string;
  readonly token: string;
  readonly userProject: string | undefined;
}

export interface EarthEngineServer {
  readonly origin: string;
  /** `${origin}/v1`, the `baseUrl` for the preset. */
  readonly baseUrl: string;
  readonly calls: EarthEngineCall[];
  /** Delay before each answer (ms). */
  latency: number;
  /** Answer the next this many authorised calls `429 RESOURCE_EXHAUSTED` (as Earth Engine does, no Retry-After). */
  rateLimitNext: number;
  reset(): void;
  close(): Promise<void>;
}

const ASSETS: Record<string, object> = {
  'projects/earthengine-public/assets/COPERNICUS/S2_SR': {
    type: 'IMAGE_COLLECTION',
    id: 'COPERNICUS/S2_SR',
    updateTime: '2024-01-01T00:00:00Z',
    properties: { title: 'Sentinel-2 MSI: MultiSpectral Instrument, Level-2A' },
  },
  'projects/earthengine-legacy/assets/users/alice/fields': { type: 'TABLE', id: 'users/alice/fields', sizeBytes: '2048', featureCount: '12' },
  'projects/ee-alice/assets/dem': {
    type: 'IMAGE',
    id: 'projects/ee-alice/assets/dem',
    bands: [{ id: 'elevation', dataType: { precision: 'FLOAT' }, grid: { crsCode: 'EPSG:4326' } }],
    startTime: '2020-01-01T00:00:00Z',
  },
};

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  json(res, code, { error: { code, message, status } });
}

class EvaluationError extends Error {}

/** Evaluates the subset of the Cloud API expression language the tests use. */
function evaluate(expression: { result?: unknown; values?: Record<string, unknown> }): unknown {
  const values = expression.values ?? {};
  const node = (value: unknown): unknown => {
    const v = value as Record<string, unknown>;
    if (v === null || typeof v !== 'object') throw new EvaluationError('Invalid value node');
    if ('constantValue' in v) return v.constantValue;
    if ('valueReference' in v) {
      const ref = values[String(v.valueReference)];
      if (ref === undefined) throw new EvaluationError(`Unknown value reference ${String(v.valueReference)}`);
      return node(ref);
    }
    if ('arrayValue' in v) return ((v.arrayValue as { values?: unknown[] }).values ?? []).map(node);
    if ('dictionaryValue' in v) {
      const entries = Object.entries((v.dictionaryValue as { values?: Record<string, unknown> }).values ?? {});
      return Object.fromEntries(entries.map(([key, item]) => [key, node(item)]));
    }
    if ('functionInvocationValue' in v) {
      const call = v.functionInvocationValue as { functionName?: string; arguments?: Record<string, unknown> };
      const args = Object.fromEntries(Object.entries(call.arguments ?? {}).map(([key, item]) => [key, node(item)]));
      switch (call.functionName) {
        case 'Number.add':
          return (args.left as number) + (args.right as number);
        case 'Number.multiply':
          return (args.left as number) * (args.right as number);
        case 'List.size':
          return (args.list as unknown[]).length;
        case 'Image.load':
          return { type: 'Image', id: args.id };
        default:
          throw new EvaluationError(`Unknown function: ${String(call.functionName)}`);
      }
    }
    throw new EvaluationError('Invalid value node');
  };
  const result = values[String(expression.result)];
  if (result === undefined) throw new EvaluationError('Expression result refers to no value');
  return node(result);
}

/** Starts the Earth Engine stand-in; `isValid` decides which bearer tokens it accepts. */
export async function startEarthEngineServer(isValid: (token: string) => boolean): Promise<EarthEngineServer> {
  const calls: EarthEngineCall[] = [];
  const maps = new Set<string>();
  const state = { latency: 0, rateLimitNext: 0 };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => googleError(res, 500, 'INTERNAL', String(error)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = await readBody(req);
    if (state.latency > 0) await new Promise((resolve) => setTimeout(resolve, state.latency));
    const token = bearer(req);
    const userProject = req.headers['x-goog-user-project'] as string | undefined;
    calls.push({ method: req.method ?? '', path: decodeURIComponent(url.pathname), token, userProject });
    if (!isValid(token)) {
      googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
      return;
    }
    if (state.rateLimitNext > 0) {
      state.rateLimitNext--;
      return googleError(res, 429, 'RESOURCE_EXHAUSTED', 'Too many concurrent aggregations.');
    }
    if (/^\/v1\/projects\/[^/]+\/algorithms$/.test(url.pathname) && req.method === 'GET') {
      // What ee-client's `ee.initialize` loads: the algorithms the evaluator below knows.
      const number = (name: string): object => ({
        name: `algorithms/${name}`,
        description: name,
        returnType: 'Number',
        arguments: [{ argumentName: 'left', type: 'Number' }, { argumentName: 'right', type: 'Number' }],
      });
      return json(res, 200, { algorithms: [number('Number.add'), number('Number.multiply')] });
    }
    let match = /^\/v1\/projects\/([^/]+)\/value:compute$/.exec(url.pathname);
    if (match !== null && req.method === 'POST') {
      if (userProject !== match[1]) return googleError(res, 403, 'PERMISSION_DENIED', 'x-goog-user-project must name the project');
      const body = parseJson(text) as { expression?: { result?: unknown; values?: Record<string, unknown> } } | undefined;
      if (req.headers['content-type'] !== 'application/json' || body?.expression === undefined) {
        return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload: expression is required');
      }
      try {
        const result = evaluate(body.expression);
        // Like proto3 JSON, a null result is left out.
        return json(res, 200, result === null ? {} : { result });
      } catch (error) {
        if (error instanceof EvaluationError) return googleError(res, 400, 'INVALID_ARGUMENT', error.message);
        throw error;
      }
    }
    match = /^\/v1\/projects\/([^/]+)\/maps$/.exec(url.pathname);
    if (match !== null && req.method === 'POST') {
      if (userProject !== match[1]) return googleError(res, 403, 'PERMISSION_DENIED', 'x-goog-user-project must name the project');
      const body = parseJson(text) as
        | { expression?: { values?: object }; fileFormat?: unknown; bandIds?: unknown; visualizationOptions?: Record<string, unknown> }
        | undefined;
      const vis = body?.visualizationOptions;
      const valid =
        body?.expression?.values !== undefined &&
        (body.fileFormat === undefined || ['PNG', 'JPEG', 'AUTO_JPEG_PNG'].includes(String(body.fileFormat))) &&
        (body.bandIds === undefined || (Array.isArray(body.bandIds) && body.bandIds.every((id) => typeof id === 'string'))) &&
        (vis === undefined ||
          ((vis.ranges === undefined ||
            (Array.isArray(vis.ranges) && vis.ranges.every((r: { min?: unknown; max?: unknown }) => typeof r.min === 'number' && typeof r.max === 'number'))) &&
            (vis.paletteColors === undefined || Array.isArray(vis.paletteColors))));
      if (!valid) return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid map request');
      const name = `projects/${match[1]}/maps/${randomBytes(8).toString('hex')}-${randomBytes(4).toString('hex')}`;
      maps.add(name);
      return json(res, 200, { name, expression: body?.expression, fileFormat: body?.fileFormat ?? 'AUTO_JPEG_PNG', bandIds: body?.bandIds ?? [] });
    }
    match = /^\/v1\/(projects\/[^/]+\/maps\/[^/]+)\/tiles\/(\d+)\/(\d+)\/(\d+)$/.exec(url.pathname);
    if (match !== null && req.method === 'GET') {
      if (!maps.has(match[1] ?? '')) return googleError(res, 404, 'NOT_FOUND', 'Map not found');
      res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
      return;
    }
    match = /^\/v1\/(projects\/[^/]+\/assets\/.+)$/.exec(url.pathname);
    if (match !== null && req.method === 'GET') {
      const name = decodeURIComponent(match[1] ?? '');
      const asset = ASSETS[name];
      if (asset === undefined) return googleError(res, 404, 'NOT_FOUND', `Asset '${name}' does not exist or doesn't allow this operation.`);
      return json(res, 200, { name, ...asset });
    }
    googleError(res, 404, 'NOT_FOUND', 'Method not found');
  }

  const origin = await listen(server);
  return {
    origin,
    baseUrl: `${origin}/v1`,
    calls,
    get latency() {
      return state.latency;
    },
    set latency(value) {
      state.latency = value;
    },
    get rateLimitNext() {
      return state.rateLimitNext;
    },
    set rateLimitNext(value) {
      state.rateLimitNext = value;
    },
    reset() {
      calls.length = 0;
      state.latency = 0;
      state.rateLimitNext = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SEPAL: sign-ins (session cookie + sepal-user header) and the Google token refresh behind the gateway.

export interface SepalLogin {
  readonly username: string;
  readonly sessionId: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** What SEPAL sends to an app it hosts. */
  readonly headers: Record<string, string>;
}

export interface SepalServer {
  readonly origin: string;
  /** Refresh calls per username (any outcome). */
  readonly refreshes: Record<string, number>;
  /** Every Cookie header the refresh endpoint received. */
  readonly cookies: string[];
  /** Lifetime (s) of tokens issued by the refresh endpoint. Default 3600. */
  lifetime: number;
  /** Delay before the refresh endpoint answers (ms). */
  latency: number;
  /** Signs a user in: a SEPAL session and a Google access token that expires in `expiresIn` seconds. */
  login(username: string, options?: { expiresIn?: number; projectId?: string; refreshIfExpiresInMinutes?: number }): SepalLogin;
  /** Ends a SEPAL session (its cookie is refused from then on). */
  logout(sessionId: string): void;
  /** The user's Google access was revoked: the refresh endpoint answers 204. */
  revokeGoogle(username: string): void;
  /** Answer the next `count` refresh requests with this status. */
  failNext(count: number, status: number): void;
  isValid(accessToken: string): boolean;
  /** Who an access token was issued to. */
  userOf(accessToken: string): string | undefined;
  reset(): void;
  close(): Promise<void>;
}

export async function startSepalServer(): Promise<SepalServer> {
  const sessions = new Map<string, string>(); // session id → username
  const users = new Map<string, { projectId: string; refreshToken: string; revoked: boolean }>();
  const tokens = new Map<string, { username: string; expiresAt: number }>();
  const failures: number[] = [];
  const state = { lifetime: 3600, latency: 0, refreshes: {} as Record<string, number>, cookies: [] as string[] };

  const issue = (username: string, expiresIn: number): { accessToken: string; expiresAt: number } => {
    const accessToken = `ya29.${randomBytes(16).toString('hex')}`;
    const expiresAt = Date.now() + expiresIn * 1000;
    tokens.set(accessToken, { username, expiresAt });
    return { accessToken, expiresAt };
  };

  const sessionUser = (req: IncomingMessage): string | undefined => {
    const header = req.headers.cookie ?? '';
    state.cookies.push(header);
    const pair = header.split(';').map((part) => part.trim()).find((part) => part.startsWith('SEPAL-SESSIONID='));
    return pair === undefined ? undefined : sessions.get(pair.slice('SEPAL-SESSIONID='.length));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => res.writeHead(500).end(String(error)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    await readBody(req);
    const refresh = url.pathname === '/api/user/google/refresh-access-token' && req.method === 'POST';
    const credentialsFile =
      url.pathname === '/api/user-files/download' && req.method === 'GET' && url.searchParams.get('path') === '/.config/earthengine/credentials';
    if (!refresh && !credentialsFile) {
      res.writeHead(404).end();
      return;
    }
    const username = sessionUser(req);
    if (username !== undefined) state.refreshes[username] = (state.refreshes[username] ?? 0) + 1;
    if (state.latency > 0) await new Promise((resolve) => setTimeout(resolve, state.latency));
    const failure = failures.shift();
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end('failure');
      return;
    }
    if (username === undefined) {
      // The gateway's answer to a request without a valid session.
      res.writeHead(401, { 'www-authenticate': 'Basic realm="Sepal"' }).end();
      return;
    }
    const user = users.get(username);
    if (user === undefined || user.revoked) {
      res.writeHead(204).end();
      return;
    }
    const { accessToken, expiresAt } = issue(username, state.lifetime);
    if (refresh) {
      json(res, 200, { refreshToken: user.refreshToken, accessToken, accessTokenExpiryDate: expiresAt, projectId: user.projectId, legacyProject: false });
    } else {
      json(res, 200, { access_token: accessToken, access_token_expiry_date: expiresAt, project_id: user.projectId });
    }
  }

  const origin = await listen(server);
  return {
    origin,
    get refreshes() {
      return state.refreshes;
    },
    get cookies() {
      return state.cookies;
    },
    get lifetime() {
      return state.lifetime;
    },
    set lifetime(value) {
      state.lifetime = value;
    },
    get latency() {
      return state.latency;
    },
    set latency(value) {
      state.latency = value;
    },
    login(username, { expiresIn = 3600, projectId = `ee-${username}`, refreshIfExpiresInMinutes } = {}) {
      const sessionId = `s%3A${randomBytes(18).toString('base64url')}.${randomBytes(8).toString('hex')}`;
      sessions.set(sessionId, username);
      const refreshToken = `1//rt-${randomBytes(12).toString('hex')}`;
      users.set(username, { projectId, refreshToken, revoked: false });
      const { accessToken, expiresAt } = issue(username, expiresIn);
      const googleTokens: Record<string, unknown> = { accessToken, refreshToken, accessTokenExpiryDate: expiresAt, projectId, legacyProject: false };
      if (refreshIfExpiresInMinutes !== undefined) googleTokens.REFRESH_IF_EXPIRES_IN_MINUTES = refreshIfExpiresInMinutes;
      const sepalUser = { id: sessions.size, username, googleTokens, status: 'ACTIVE', roles: ['USER'], systemUser: false, admin: false };
      return {
        username,
        sessionId,
        accessToken,
        refreshToken,
        headers: {
          cookie: `_ga=GA1.1.123; SEPAL-SESSIONID=${sessionId}; theme=dark`,
          'sepal-user': JSON.stringify(sepalUser),
        },
      };
    },
    logout(sessionId) {
      sessions.delete(sessionId);
    },
    revokeGoogle(username) {
      const user = users.get(username);
      if (user !== undefined) user.revoked = true;
    },
    failNext(count, status) {
      for (let index = 0; index < count; index++) failures.push(status);
    },
    isValid(accessToken) {
      const record = tokens.get(accessToken);
      return record !== undefined && record.expiresAt > Date.now();
    },
    userOf(accessToken) {
      return tokens.get(accessToken)?.username;
    },
    reset() {
      failures.length = 0;
      state.lifetime = 3600;
      state.latency = 0;
      state.refreshes = {};
      state.cookies = [];
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
