import * as z from 'zod/mini';
import type { ClientOptions } from '../client.js';
import { sendWithRetries } from '../providers/token-request.js';
import { hashKey } from '../core/digest.js';
import {
  createSession,
  SessionError,
  type Clock,
  type FetchTokenContext,
  type Session,
  type Sharing,
  type Token,
  type TokenProvider,
} from '../index.js';
import { earthEngine, type EarthEngine } from './earth-engine.js';
import { HOLD } from './api-call.js';

/**
 * The request headers SEPAL sends to the apps it hosts: a Fetch `Headers`, Node's `req.headers`, or a plain record
 * (names are matched case-insensitively; `sepal_user` is read as `sepal-user`, but a request carrying both spellings
 * is refused with `invalid_credentials`: the gateway sets `sepal-user`, a client could add the other).
 */
export type SepalHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** How to reach SEPAL for fresh Google tokens. Only `sepalHost` is required. */
export interface SepalOptions {
  /** SEPAL's host (`sepal.io`, reached over https) or origin (`https://sepal.example.org`, `http://127.0.0.1:8080`). */
  readonly sepalHost: string;
  /**
   * Where SEPAL hands out a refreshed Google access token for the signed-in user. Default
   * `/api/user/google/refresh-access-token` (the gateway route to the user service's `POST /google/refresh-access-token`,
   * which answers with the user's `googleTokens`). ee-client instead GETs the user's Earth Engine credentials file:
   * `/api/user-files/download?path=%2F.config%2Fearthengine%2Fcredentials` with `refreshMethod: 'GET'`; both answers are
   * understood.
   */
  readonly refreshPath?: string | undefined;
  /** Default `POST`. */
  readonly refreshMethod?: 'POST' | 'GET' | undefined;
  /** The name of SEPAL's session cookie. Default `SEPAL-SESSIONID` (the SEPAL gateway's express-session cookie). */
  readonly sessionCookie?: string | undefined;
  /** Attempts per refresh, the first included, for network errors, timeouts, 429 and 5xx. Default 3. */
  readonly attempts?: number | undefined;
  /** Base of the exponential backoff between attempts (ms). Default 250. */
  readonly backoff?: number | undefined;
  /** Timeout of one attempt (ms). Default 10 000. */
  readonly timeout?: number | undefined;
}

/** How the sessions of SEPAL users are created. */
export interface SepalSessionOptions {
  /** Default: the runtime's (in a server, memory: one process). */
  readonly sharing?: Sharing | undefined;
  readonly clock?: Clock | undefined;
  /** The fetch for the SEPAL refresh (and, in `fromSepalHeaders`, the Earth Engine calls). */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
}

/** `fromSepalHeaders` / `sepalSessions` options: SEPAL, the session, and the Earth Engine client. */
export interface SepalEarthEngineOptions extends SepalOptions, SepalSessionOptions {
  /** Earth Engine REST root with version. Default `https://earthengine.googleapis.com/v1`. */
  readonly baseUrl?: string | undefined;
  /** More options for the Earth Engine API client. */
  readonly client?: ClientOptions | undefined;
}

/** One SEPAL user, read from the headers of one request. Holds no secret in its public fields. */
export interface SepalUser {
  /**
   * The session key: SEPAL host, username and a SHA-256 key of the SEPAL session id (two sign-ins of one user are
   * two sessions, each refreshed with its own cookie). No secret in clear; use it as the pool key.
   */
  readonly key: string;
  readonly username: string;
  /** `googleTokens.projectId`: the Google Cloud project the user chose in SEPAL. */
  readonly project: string;
  /** `googleTokens.legacyProject`, as SEPAL sent it. */
  readonly legacyProject: boolean | string | null | undefined;
  /** `googleTokens.REFRESH_IF_EXPIRES_IN_MINUTES` in ms (default 10 min, SEPAL's own margin). */
  readonly refreshBeforeExpiry: number;
  /** Uses the header's access token while it is fresh, then refreshes through SEPAL with the session cookie. */
  readonly provider: TokenProvider;
  /** A session for this user (sessions with the same key in one context share one token). */
  createSession(options?: SepalSessionOptions): Session;
}

/** An Earth Engine session for a SEPAL user. */
export interface SepalEarthEngine extends EarthEngine {
  readonly user: SepalUser;
}

/** Anything that hands out a session per key and calls back for missing ones: `createSessionPool(…)`. */
export interface SessionSource {
  get(key: string): Session;
}

/** Per-user Earth Engine sessions for a server that serves many SEPAL users through a session pool. */
export interface SepalSessions {
  /** The pool's `create(key)`: builds the session of the user `earthEngine(headers, pool)` is resolving. */
  create(key: string): Session;
  /** The Earth Engine client of the user in `headers`, on that user's session from `sessions` (created on a miss). */
  earthEngine(headers: SepalHeaders, sessions: SessionSource): SepalEarthEngine;
}

const DEFAULT_REFRESH_PATH = '/api/user/google/refresh-access-token';
const DEFAULT_COOKIE = 'SEPAL-SESSIONID';
const DEFAULT_MARGIN_MINUTES = 10;
// Google access tokens live an hour; used to place a header token's issue time, which SEPAL does not send.
const GOOGLE_TOKEN_LIFETIME = 3_600_000;

const nonEmpty = z.string().check(z.minLength(1));

const sepalUserSchema = z.looseObject({
  username: nonEmpty,
  googleTokens: z.looseObject({
    accessToken: nonEmpty,
    accessTokenExpiryDate: z.number().check(z.positive()),
    REFRESH_IF_EXPIRES_IN_MINUTES: z.optional(z.number().check(z.nonnegative())),
    projectId: nonEmpty,
    legacyProject: z.optional(z.nullable(z.union([z.boolean(), z.string()]))),
  }),
});

// The refresh endpoint answers with `googleTokens`; the credentials file uses snake_case.
const refreshedSchema = z.looseObject({
  accessToken: z.optional(nonEmpty),
  accessTokenExpiryDate: z.optional(z.number()),
  access_token: z.optional(nonEmpty),
  access_token_expiry_date: z.optional(z.number()),
});

// RFC 6265 cookie-value: cookie-octets, optionally in double quotes. Also keeps CR/LF out of our Cookie header.
const COOKIE_VALUE = /^(?:"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+"|[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+)$/;

/**
 * Reads the SEPAL user of a request: the session cookie (required) and the `sepal-user` header's `username` and
 * `googleTokens`. Missing or malformed parts fail with `invalid_credentials` naming the part; values never appear
 * in errors. The Google refresh token in the header is ignored: refreshes go through SEPAL.
 */
export function sepalUser(headers: SepalHeaders, options: SepalOptions): SepalUser {
  const settings = resolve(options);
  const sessionId = cookie(header(headers, 'cookie'), settings.cookieName);
  if (sessionId === undefined) {
    throw credentialsError(`the ${settings.cookieName} cookie is missing`);
  }
  if (!COOKIE_VALUE.test(sessionId)) throw credentialsError(`the ${settings.cookieName} cookie is malformed`);

  const raw = header(headers, 'sepal-user');
  if (raw === undefined) throw credentialsError('the sepal-user header is missing');
  if (Array.isArray(raw) && raw.length !== 1) throw credentialsError('the sepal-user header must appear once');
  let json: unknown;
  try {
    json = JSON.parse(Array.isArray(raw) ? (raw[0] as string) : (raw as string));
  } catch {
    // Not the parser's message: it quotes the input, which holds the tokens.
    throw credentialsError('the sepal-user header is not valid JSON');
  }
  const parsed = sepalUserSchema.safeParse(json);
  if (!parsed.success) {
    const path = ['sepal-user', ...(parsed.error.issues[0]?.path ?? [])].map(String).join('.');
    const hint = path === 'sepal-user.googleTokens' ? ' (the user has not connected a Google account to SEPAL)' : '';
    throw credentialsError(`${path} is missing or invalid${hint}`);
  }
  const { username, googleTokens } = parsed.data;
  // A lone surrogate cannot be encoded into the key (encodeURIComponent throws): not a name SEPAL hands out.
  if (/\p{Cs}/u.test(username)) throw credentialsError('sepal-user.username is missing or invalid');
  const margin = (googleTokens.REFRESH_IF_EXPIRES_IN_MINUTES ?? DEFAULT_MARGIN_MINUTES) * 60_000;
  // The session id as a SHA-256 key: it separates two sign-ins (each refreshed with its own cookie), so it must not
  // be collidable, and it is a secret, so it is never in the key in clear.
  const key = ['sepal', settings.origin, username].map(encodeURIComponent).join('|') + `|${hashKey(sessionId)}`;
  const provider = sepalProvider(key, sessionId, googleTokens.accessToken, googleTokens.accessTokenExpiryDate, margin, settings);
  return {
    key,
    username,
    project: googleTokens.projectId,
    legacyProject: googleTokens.legacyProject,
    refreshBeforeExpiry: margin,
    provider,
    createSession: (sessionOptions = {}) => createSession({ provider, refreshBeforeExpiry: margin, ...sessionOptions }),
  };
}

/**
 * An Earth Engine session for the SEPAL user of a request (see `sepalUser`), on the project the user chose in
 * SEPAL. It owns its session: `close()` it when the request is done, or use `sepalSessions` with a pool.
 *
 * @example
 * app.get('/sum', async (req, res) => {
 *   const earth = fromSepalHeaders(req.headers, { sepalHost: 'sepal.io' });
 *   try {
 *     res.json(await earth.operations.getInfo(expression));
 *   } finally {
 *     await earth.close();
 *   }
 * });
 */
export function fromSepalHeaders(headers: SepalHeaders, options: SepalEarthEngineOptions): SepalEarthEngine {
  const user = sepalUser(headers, options);
  const { sharing, clock, fetch, signal, baseUrl, client } = options;
  const ee = earthEngine({
    provider: user.provider,
    refreshBeforeExpiry: user.refreshBeforeExpiry,
    project: user.project,
    sharing,
    clock,
    fetch,
    signal,
    baseUrl,
    client,
  });
  return { ...ee, user };
}

/**
 * Per-user sessions kept in a pool across requests: pass `create` to the pool, then resolve each request with
 * `earthEngine(headers, pool)`. Each user (and each SEPAL sign-in) gets its own session; nothing is global.
 *
 * @example
 * const sepal = sepalSessions({ sepalHost: 'sepal.io' });
 * const pool = createSessionPool({ max: 1000, create: sepal.create });
 * const ee = sepal.earthEngine(req.headers, pool);
 */
export function sepalSessions(options: SepalEarthEngineOptions): SepalSessions {
  resolve(options);
  const { sharing, clock, fetch, signal, baseUrl, client } = options;
  // The user being resolved while `sessions.get` runs: pools call `create` synchronously on a miss.
  const arriving = new Map<string, SepalUser>();
  return {
    create(key) {
      const user = arriving.get(key);
      if (user === undefined) {
        throw new SessionError('invalid_options', 'sepalSessions.create is for the pool that sepalSessions.earthEngine uses');
      }
      return user.createSession({ sharing, clock, fetch, signal });
    },
    earthEngine(headers, sessions) {
      const user = sepalUser(headers, options);
      const take = (): Session => {
        arriving.set(user.key, user);
        try {
          return sessions.get(user.key);
        } finally {
          arriving.delete(user.key);
        }
      };
      const session = takenAtEachUse(take);
      return { ...earthEngine({ session, project: user.project, fetch, baseUrl, client }), user };
    },
  };
}

/**
 * The user's session as the pool holds it when each use starts: a handle kept across an `await` (a request body that
 * arrives late) may have been evicted and closed meanwhile, so every operation (the pool's hold, a token) takes it
 * from the pool again — the same session while it is there, a new one for the same user after an eviction.
 */
function takenAtEachUse(take: () => Session): Session {
  let current = take();
  const fresh = (): Session => (current = take());
  return {
    get key() {
      return current.key;
    },
    get isLeader() {
      return current.isLeader;
    },
    get dpop() {
      return current.dpop;
    },
    getToken: (getTokenOptions) => fresh().getToken(getTokenOptions),
    dpopProof: (request) => fresh().dpopProof(request),
    on: (event, listener) => current.on(event, listener),
    subscribe: (listener) => current.subscribe(listener),
    getSnapshot: () => current.getSnapshot(),
    clear: () => fresh().clear(),
    close: () => current.close(),
    [HOLD]() {
      const session = fresh() as Session & { [HOLD]?: () => () => void };
      return typeof session[HOLD] === 'function' ? session[HOLD]() : () => undefined;
    },
  } as Session;
}

interface Settings {
  readonly origin: string;
  readonly refreshUrl: string;
  readonly method: 'POST' | 'GET';
  readonly cookieName: string;
  readonly attempts: number;
  readonly backoff: number;
  readonly maxDelay: number;
  readonly timeout: number;
}

function resolve(options: SepalOptions): Settings {
  const { sepalHost, refreshPath = DEFAULT_REFRESH_PATH, refreshMethod = 'POST', sessionCookie = DEFAULT_COOKIE } = options ?? {};
  if (typeof sepalHost !== 'string' || sepalHost === '') {
    throw new SessionError('invalid_options', 'sepalHost is required, e.g. sepal.io');
  }
  const base = /^[a-z][a-z\d+.-]*:\/\//i.test(sepalHost) ? sepalHost : `https://${sepalHost}`;
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) {
    throw new SessionError('invalid_options', 'sepalHost must be a host name or an http(s) origin');
  }
  const origin = new URL(base).href.replace(/\/+$/, '');
  if (typeof refreshPath !== 'string' || !refreshPath.startsWith('/')) {
    throw new SessionError('invalid_options', 'refreshPath must start with /');
  }
  if (refreshMethod !== 'POST' && refreshMethod !== 'GET') throw new SessionError('invalid_options', 'refreshMethod must be POST or GET');
  if (typeof sessionCookie !== 'string' || !/^[!#$%&'*+\-.^\w`|~]+$/.test(sessionCookie)) {
    throw new SessionError('invalid_options', 'sessionCookie must be a cookie name');
  }
  return {
    origin,
    refreshUrl: `${origin}${refreshPath}`,
    method: refreshMethod,
    cookieName: sessionCookie,
    attempts: options.attempts ?? 3,
    backoff: options.backoff ?? 250,
    maxDelay: 30_000,
    timeout: options.timeout ?? 10_000,
  };
}

function credentialsError(what: string): SessionError {
  return new SessionError('invalid_credentials', `SEPAL headers: ${what}`);
}

/**
 * The value of header `name` (lower case, with dashes). Names are matched case-insensitively, and a plain record may
 * spell them with underscores (`sepal_user`, as some frameworks hand them over). One spelling only: a request that
 * carries two (the gateway's `sepal-user` and a client's `sepal_user`, or two cases of one name in a record) is
 * ambiguous and refused, so that a header a client made up never stands in for the one the gateway set.
 */
function header(headers: SepalHeaders, name: string): string | readonly string[] | undefined {
  if (headers instanceof Headers) {
    const value = headers.get(name) ?? undefined;
    const lookAlike = name.includes('-') ? (headers.get(name.replace(/-/g, '_')) ?? undefined) : undefined;
    if (value !== undefined && lookAlike !== undefined) throw ambiguous(name);
    return value ?? lookAlike;
  }
  if (typeof headers !== 'object' || headers === null) return undefined;
  let found: string | readonly string[] | undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || key.toLowerCase().replace(/_/g, '-') !== name) continue;
    if (found !== undefined) throw ambiguous(name);
    found = value;
  }
  return found;
}

function ambiguous(name: string): SessionError {
  return credentialsError(`the ${name} header appears under more than one spelling (e.g. with - and _, or in two cases)`);
}

/** The first cookie called `name` in one or more Cookie header values; undefined when there is none. */
function cookie(value: string | readonly string[] | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const joined = typeof value === 'string' ? value : value.join(';');
  for (const pair of joined.split(';')) {
    const equals = pair.indexOf('=');
    if (equals !== -1 && pair.slice(0, equals).trim() === name) return pair.slice(equals + 1).trim();
  }
  return undefined;
}

function sepalProvider(
  key: string,
  sessionId: string,
  accessToken: string,
  expiresAt: number,
  margin: number,
  settings: Settings,
): TokenProvider {
  // The header's token is offered once: after that (stale, rejected by an API, or cleared) SEPAL is asked.
  let fromHeader: { accessToken: string; expiresAt: number } | undefined = { accessToken, expiresAt };
  return {
    key,
    canRefresh: true,
    usesRefreshToken: false,
    async fetchToken(context) {
      const offered = fromHeader;
      fromHeader = undefined;
      const now = context.clock.now();
      if (offered !== undefined && offered.expiresAt - now > margin) {
        const token: Token = {
          ...offered,
          tokenType: 'Bearer',
          issuedAt: Math.min(now, offered.expiresAt - GOOGLE_TOKEN_LIFETIME),
        };
        return { token };
      }
      return { token: await refreshThroughSepal(sessionId, settings, context) };
    },
  };
}

/** One refresh through SEPAL's `/api/user/refreshGoogleAccessToken`, retried like a token request. */
function refreshThroughSepal(sessionId: string, settings: Settings, context: FetchTokenContext): Promise<Token> {
  const init: RequestInit = {
    method: settings.method,
    headers: { cookie: `${settings.cookieName}=${sessionId}`, accept: 'application/json' },
    // A redirect is SEPAL sending us to sign in; following it could carry the cookie to another origin.
    redirect: 'manual',
  };
  return sendWithRetries('SEPAL', settings.refreshUrl, init, context, settings, ({ status }, text, sentAt) => {
    // The body holds the user's tokens: it is parsed, never quoted.
    if (status === 200) return refreshedToken(text, sentAt);
    if (status === 204) {
      const message = 'SEPAL has no Google tokens for this user (Google access was revoked or never granted)';
      throw new SessionError('invalid_grant', message, { status });
    }
    if (status === 401 || status === 403 || status === 0 || (status >= 300 && status < 400)) {
      const message = `SEPAL did not accept the session cookie (${status}): the user must sign in to SEPAL again`;
      throw new SessionError('invalid_grant', message, { status });
    }
    throw new SessionError('request_failed', `SEPAL refused the token refresh (${status})`, { status });
  });
}

function refreshedToken(text: string, sentAt: number): Token {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SessionError('invalid_response', 'SEPAL answered the token refresh with a body that is not JSON', { status: 200 });
  }
  const parsed = refreshedSchema.safeParse(json);
  const body = parsed.success ? parsed.data : {};
  const accessToken = body.accessToken ?? body.access_token;
  const expiresAt = body.accessTokenExpiryDate ?? body.access_token_expiry_date;
  if (accessToken === undefined || expiresAt === undefined || !Number.isFinite(expiresAt)) {
    throw new SessionError('invalid_response', 'SEPAL answered the token refresh without accessToken and accessTokenExpiryDate', {
      status: 200,
    });
  }
  if (expiresAt <= sentAt) {
    throw new SessionError('invalid_response', 'SEPAL answered the token refresh with an expired token', { status: 200 });
  }
  return { accessToken, tokenType: 'Bearer', issuedAt: sentAt, expiresAt };
}

