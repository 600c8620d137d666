import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { text as readBody } from 'node:stream/consumers';
import { EVENTS_PATH, PRESENCE_PATH, type ServiceStats, STATS_PATH, TILE_PATH, TOKEN_LIFETIME, TOKEN_PATH } from '../config.js';
import { SERVICE_ACCOUNT } from './backend.js';
import { MAX_ZOOM, renderTile } from './tiles.js';

/** A local stand-in for a Sentinel-Hub-like service: token endpoint, protected tiles, live counters. */
export interface StandIn {
  /** Connect-style middleware: serves the stand-in's paths, passes everything else to `next`. */
  handle(req: IncomingMessage, res: ServerResponse, next: () => void): void;
  readonly stats: ServiceStats;
  /** Sends the counters to the pages again (the OpenID provider's counts changed). */
  changed(): void;
  /** Ends the event streams so that the HTTP server can close. */
  close(): void;
}

export interface StandInOptions {
  /** Token lifetime in seconds. Default `TOKEN_LIFETIME` (60). */
  readonly lifetime?: number | undefined;
  /** Accepts access tokens of another issuer too (the OpenID provider's, for signed-in users). */
  readonly introspect?: ((accessToken: string) => Promise<boolean>) | undefined;
  /** The OpenID provider's counts, shown beside the stand-in's. */
  readonly signIns?: (() => { codeExchanges: number; refreshRequests: number; reusedRefreshTokens: number }) | undefined;
}

const WORKER_TTL = 30_000;
const TILE_CACHE_SIZE = 512;

export function createStandIn(options: StandInOptions = {}): StandIn {
  const lifetime = options.lifetime ?? TOKEN_LIFETIME;
  const tokens = new Map<string, number>(); // access token → expiresAt
  const workers = new Map<string, number>(); // worker id → last seen
  const streams = new Set<ServerResponse>();
  const tiles = new Map<string, Buffer>(); // rendered tiles, oldest first
  const counters = { tokenRequests: 0, tilesServed: 0, unauthorized: 0 };
  let pending: ReturnType<typeof setTimeout> | undefined;

  const snapshot = (): ServiceStats => {
    const now = Date.now();
    for (const [id, seen] of workers) if (now - seen > WORKER_TTL) workers.delete(id);
    const signIns = options.signIns?.() ?? { codeExchanges: 0, refreshRequests: 0, reusedRefreshTokens: 0 };
    return {
      ...counters,
      ...signIns,
      tokenRequests: counters.tokenRequests + signIns.codeExchanges + signIns.refreshRequests,
      tabs: streams.size,
      workers: workers.size,
      tokenLifetime: lifetime,
    };
  };

  // Coalesce bursts (a screenful of tiles) into one update every 100 ms.
  const publish = (): void => {
    pending ??= setTimeout(() => {
      pending = undefined;
      const data = `data: ${JSON.stringify(snapshot())}\n\n`;
      for (const stream of streams) stream.write(data);
    }, 100);
  };
  // Workers age out without a request, and proxies like to see bytes on an idle stream.
  const heartbeat = setInterval(() => {
    publish();
    for (const stream of streams) stream.write(': keep-alive\n\n');
  }, 5_000);
  heartbeat.unref();

  function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.tokenRequests++;
    publish();
    const form = new URLSearchParams(await readBody(req));
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = req.headers.authorization?.match(/^Basic (.+)$/)?.[1];
    if (basic !== undefined) {
      const decoded = Buffer.from(basic, 'base64').toString();
      const decode = (part: string): string => decodeURIComponent(part.replace(/\+/g, ' '));
      id = decode(decoded.slice(0, decoded.indexOf(':')));
      secret = decode(decoded.slice(decoded.indexOf(':') + 1));
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return json(res, 400, { error: 'unsupported_grant_type', error_description: 'Only client_credentials here' });
    }
    if (id !== SERVICE_ACCOUNT.clientId || secret !== SERVICE_ACCOUNT.clientSecret) {
      return json(res, 401, { error: 'invalid_client', error_description: 'Unknown client or wrong secret' });
    }
    const accessToken = `demo_${randomBytes(16).toString('hex')}`;
    const now = Date.now();
    for (const [value, expiresAt] of tokens) if (expiresAt <= now) tokens.delete(value);
    tokens.set(accessToken, now + lifetime * 1000);
    json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: lifetime });
  }

  async function authorized(presented: string | undefined): Promise<boolean> {
    if (presented === undefined) return false;
    const expiresAt = tokens.get(presented);
    if (expiresAt !== undefined) return expiresAt > Date.now();
    return (await options.introspect?.(presented)) ?? false;
  }

  async function tile(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const match = /^(\d+)\/(\d+)\/(\d+)\.png$/.exec(url.pathname.slice(TILE_PATH.length));
    const [z, x, y] = (match?.slice(1) ?? []).map(Number) as [number?, number?, number?];
    if (z === undefined || x === undefined || y === undefined || z > MAX_ZOOM || x >= 2 ** z || y >= 2 ** z) {
      return json(res, 404, { error: 'no_such_tile' });
    }
    if (!(await authorized(req.headers.authorization?.match(/^Bearer (.+)$/i)?.[1]))) {
      counters.unauthorized++;
      publish();
      return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    const key = `${z}/${x}/${y}`;
    let png = tiles.get(key);
    if (png === undefined) {
      png = renderTile(z, x, y);
      if (tiles.size >= TILE_CACHE_SIZE) tiles.delete(tiles.keys().next().value!);
    } else {
      tiles.delete(key); // re-inserted below: most recently used last
    }
    tiles.set(key, png);
    counters.tilesServed++;
    publish();
    // no-store: every tile the map shows is a request the service counts, as a metered API would.
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store', 'content-length': png.length });
    res.end(png);
  }

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 2000\ndata: ${JSON.stringify(snapshot())}\n\n`);
    streams.add(res);
    publish();
    req.on('close', () => {
      streams.delete(res);
      publish();
    });
  }

  return {
    handle(req, res, next) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const { pathname } = url;
      if (pathname === TOKEN_PATH && req.method === 'POST') {
        token(req, res).catch(() => json(res, 500, { error: 'server_error' }));
      } else if (pathname.startsWith(TILE_PATH) && req.method === 'GET') {
        tile(req, res, url).catch(() => json(res, 500, { error: 'server_error' }));
      } else if (pathname === EVENTS_PATH) {
        events(req, res);
      } else if (pathname === STATS_PATH) {
        json(res, 200, snapshot());
      } else if (pathname === PRESENCE_PATH && req.method === 'POST') {
        const id = url.searchParams.get('worker');
        if (id !== null && id.length <= 64) workers.set(id, Date.now());
        publish();
        res.writeHead(204).end();
      } else {
        next();
      }
    },
    get stats() {
      return snapshot();
    },
    changed: publish,
    close() {
      clearInterval(heartbeat);
      if (pending !== undefined) clearTimeout(pending);
      for (const stream of streams) stream.end();
      streams.clear();
    },
  };
}
