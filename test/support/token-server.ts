import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';

/** A real OAuth2 token server and protected API on 127.0.0.1, for tests and benchmarks. */
export interface TokenServer {
  /** e.g. `http://127.0.0.1:43210` */
  readonly origin: string;
  readonly tokenUrl: string;
  readonly apiUrl: string;
  readonly stats: TokenServerStats;
  /** Every token request since the last reset, in arrival order: when it came, when it was answered, what it got. */
  readonly requests: readonly TokenRequestRecord[];
  /** Token lifetime in seconds for tokens issued from now on (`expires_in`). Default 3600. */
  lifetime: number;
  /** Delay before the token endpoint answers (ms). Default 0. */
  latency: number;
  /** Answer the next `count` token requests with this status (and Retry-After / body when given). */
  failNext(count: number, status: number, options?: { retryAfter?: string; body?: string; contentType?: string }): void;
  /** Answer the next token request with exactly this 200 body (for malformed-response tests). */
  respondNextWith(body: string, contentType?: string): void;
  /** Registers a client; `secret` defaults to a random one. */
  addClient(id: string, secret?: string): { id: string; secret: string };
  /** Issues a refresh token for a client, as an authorization server would after a login. */
  issueRefreshToken(clientId: string): string;
  /** Every refresh token this server issued so far (by `issueRefreshToken` and by rotations), for secrets scans. */
  issuedRefreshTokens(): string[];
  /** Whether `accessToken` is a token this server issued and that is not expired. */
  isValid(accessToken: string): boolean;
  /** Revokes every access token issued so far (the API answers 401 to them). */
  revokeAll(): void;
  /** Adds a route; return true when handled. Used by browser tests to serve pages. */
  route(handler: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>): void;
  resetStats(): void;
  /** Forgets queued failures and canned responses, and restores lifetime, latency and stats. */
  reset(): void;
  close(): Promise<void>;
}

export interface TokenServerStats {
  tokenRequests: number;
  /** Successful token responses per client id. */
  issuedByClient: Record<string, number>;
  /** Refresh tokens presented after they had been rotated away. */
  refreshTokenReuse: number;
  apiCalls: number;
  apiUnauthorized: number;
}

export interface TokenRequestRecord {
  /** Epoch ms (this process's clock) at which the request arrived, and at which its answer was sent. */
  readonly receivedAt: number;
  answeredAt?: number;
  status?: number;
  /** The access token issued, and when it expires (epoch ms); only for a 200 with a token. */
  accessToken?: string;
  expiresAt?: number;
}

interface Failure {
  status: number;
  retryAfter?: string | undefined;
  body?: string | undefined;
  contentType?: string | undefined;
}

export async function startTokenServer(): Promise<TokenServer> {
  const clients = new Map<string, string>();
  const accessTokens = new Map<string, { clientId: string; expiresAt: number }>();
  // refresh token → { clientId, active }
  const refreshTokens = new Map<string, { clientId: string; active: boolean }>();
  const failures: Failure[] = [];
  const canned: Array<{ body: string; contentType: string }> = [];
  const routes: Array<(req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>> = [];
  const freshStats = (): TokenServerStats => ({
    tokenRequests: 0,
    issuedByClient: {},
    refreshTokenReuse: 0,
    apiCalls: 0,
    apiUnauthorized: 0,
  });

  const requestOf = new WeakMap<ServerResponse, TokenRequestRecord>();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    });
  });

  const state = {
    lifetime: 3600,
    latency: 0,
    stats: freshStats(),
    requests: [] as TokenRequestRecord[],
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    for (const route of routes) if (await route(req, res, url)) return;
    if (url.pathname === '/token' && req.method === 'POST') return token(req, res);
    if (url.pathname.startsWith('/api/')) return api(req, res, url);
    res.writeHead(404).end();
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    state.stats.tokenRequests++;
    const record: TokenRequestRecord = { receivedAt: Date.now() };
    state.requests.push(record);
    requestOf.set(res, record);
    res.once('finish', () => {
      record.answeredAt = Date.now();
      record.status = res.statusCode;
    });
    const body = await readBody(req);
    if (state.latency > 0) await new Promise((resolve) => setTimeout(resolve, state.latency));
    const failure = failures.shift();
    if (failure !== undefined) {
      const headers: Record<string, string> = { 'content-type': failure.contentType ?? 'application/json' };
      if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
      res.writeHead(failure.status, headers).end(failure.body ?? JSON.stringify({ error: 'server_error' }));
      return;
    }
    const cannedBody = canned.shift();
    if (cannedBody !== undefined) {
      res.writeHead(200, { 'content-type': cannedBody.contentType }).end(cannedBody.body);
      return;
    }
    const form = new URLSearchParams(body);
    const client = authenticateClient(req, form);
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return oauthError(res, 400, 'invalid_request');
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      if (client === undefined) return oauthError(res, 401, 'invalid_client');
      return issue(res, client);
    }
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const record = refreshTokens.get(presented);
      if (record === undefined) return oauthError(res, 400, 'invalid_grant');
      if (!record.active) {
        state.stats.refreshTokenReuse++;
        return oauthError(res, 400, 'invalid_grant');
      }
      if (form.get('client_id') !== record.clientId && client !== record.clientId) {
        return oauthError(res, 401, 'invalid_client');
      }
      record.active = false;
      return issue(res, record.clientId, createRefreshToken(record.clientId));
    }
    return oauthError(res, 400, 'unsupported_grant_type');
  }

  function authenticateClient(req: IncomingMessage, form: URLSearchParams): string | undefined {
    const header = req.headers.authorization;
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString();
      const colon = decoded.indexOf(':');
      const decode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));
      id = decode(decoded.slice(0, colon));
      secret = decode(decoded.slice(colon + 1));
    }
    return id !== null && secret !== null && clients.get(id) === secret ? id : undefined;
  }

  function issue(res: ServerResponse, clientId: string, refreshToken?: string): void {
    const accessToken = `at_${randomBytes(12).toString('hex')}`;
    const expiresAt = Date.now() + state.lifetime * 1000;
    accessTokens.set(accessToken, { clientId, expiresAt });
    const record = requestOf.get(res);
    if (record !== undefined) Object.assign(record, { accessToken, expiresAt });
    state.stats.issuedByClient[clientId] = (state.stats.issuedByClient[clientId] ?? 0) + 1;
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'bearer', expires_in: state.lifetime };
    if (refreshToken !== undefined) body.refresh_token = refreshToken;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  }

  function createRefreshToken(clientId: string): string {
    const value = `rt_${randomBytes(12).toString('hex')}`;
    refreshTokens.set(value, { clientId, active: true });
    return value;
  }

  function api(req: IncomingMessage, res: ServerResponse, url: URL): void {
    state.stats.apiCalls++;
    const header = req.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    const record = accessTokens.get(presented);
    if (record === undefined || record.expiresAt <= Date.now()) {
      state.stats.apiUnauthorized++;
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_token' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ client: record.clientId, path: url.pathname, token: presented }));
  }

  function oauthError(res: ServerResponse, status: number, error: string): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error, error_description: `${error} (test server)` }));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    tokenUrl: `${origin}/token`,
    apiUrl: `${origin}/api/echo`,
    get stats() {
      return state.stats;
    },
    get requests() {
      return state.requests;
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
    failNext(count, status, options = {}) {
      for (let index = 0; index < count; index++) failures.push({ status, ...options });
    },
    respondNextWith(body, contentType = 'application/json') {
      canned.push({ body, contentType });
    },
    addClient(id, secret = randomBytes(16).toString('hex')) {
      clients.set(id, secret);
      return { id, secret };
    },
    issueRefreshToken: createRefreshToken,
    issuedRefreshTokens: () => [...refreshTokens.keys()],
    isValid(accessToken) {
      const record = accessTokens.get(accessToken);
      return record !== undefined && record.expiresAt > Date.now();
    },
    revokeAll() {
      accessTokens.clear();
    },
    route(handler) {
      routes.push(handler);
    },
    resetStats() {
      state.stats = freshStats();
      state.requests = [];
    },
    reset() {
      failures.length = 0;
      canned.length = 0;
      state.lifetime = 3600;
      state.latency = 0;
      state.stats = freshStats();
      state.requests = [];
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
