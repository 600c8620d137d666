import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, refreshTokenGrant, SessionError } from '../../src/index.js';
import {
  type CoordinatorNamespace,
  type CoordinatorStorage,
  durableObjectSharing,
  TokenCoordinator,
} from '../../src/cloudflare.js';
import { describeFailure, MAX_RETRY_AFTER, PROTOCOL_VERSION, STATE_KEY } from '../../src/sharing/cloudflare/protocol.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The protocol logic, run in Node: the real TokenCoordinator class over an in-memory storage, reached through a
// namespace that hands requests to it as the runtime would. workerd itself is proven in test/workers/.

let server: TokenServer;
let client: { id: string; secret: string };

beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('edge-unit', 'unit-s3cr3t-never-sent');
});
afterAll(() => server.close());
afterEach(() => server.reset());

class MemoryStorage implements CoordinatorStorage {
  readonly data = new Map<string, unknown>();
  get(key: string): Promise<unknown> {
    return Promise.resolve(structuredClone(this.data.get(key)));
  }
  put(key: string, value: unknown): Promise<void> {
    this.data.set(key, structuredClone(value));
    return Promise.resolve();
  }
  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.data.delete(key));
  }
}

/** One coordinator per name, like a Durable Object namespace; records every message and answer. */
function namespace(storage = new MemoryStorage()): CoordinatorNamespace<string> & {
  readonly storage: MemoryStorage;
  readonly sent: string[];
  readonly answered: string[];
  /** The objects restart (deploy, eviction): new instances, same storage. */
  restart(): void;
} {
  const objects = new Map<string, TokenCoordinator>();
  const sent: string[] = [];
  const answered: string[] = [];
  return {
    storage,
    sent,
    answered,
    restart: () => objects.clear(),
    idFromName: (name) => name,
    get: (id) => ({
      async fetch(input, init) {
        sent.push(String(init.body));
        let object = objects.get(id);
        if (object === undefined) objects.set(id, (object = new TokenCoordinator({ storage })));
        const response = await object.fetch(new Request(input, init));
        answered.push(await response.clone().text());
        return response;
      },
    }),
  };
}

function provider(): ReturnType<typeof clientCredentials> {
  return clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, attempts: 1 });
}

/** One protocol message to the coordinator of `key`, as an isolate sends it; the parsed answer. */
async function message(ns: CoordinatorNamespace<string>, key: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await ns.get(ns.idFromName(key)).fetch('https://coordinator/', { method: 'POST', body: JSON.stringify({ v: PROTOCOL_VERSION, ...body }) });
  return (await response.json()) as Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A namespace whose objects answer with whatever `answer` returns: for the isolate's error handling. */
function fakeNamespace(answer: () => Promise<Response>): CoordinatorNamespace<string> {
  return { idFromName: (name) => name, get: () => ({ fetch: answer }) };
}

async function rejection(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  if (!isSessionError(error)) throw new Error(`expected a SessionError, got ${String(error)}`);
  return error;
}

describe('durableObjectSharing with the coordinator (in Node)', () => {
  it('isolates share one token; the secret never reaches the coordinator, nor does a refresh token it does not need', async () => {
    const ns = namespace();
    // Three "isolates": three transports (three session cores) on one namespace.
    const sessions = [1, 2, 3].map(() => createSession({ provider: provider(), sharing: durableObjectSharing(ns) }));
    server.latency = 50;
    const tokens = await Promise.all(sessions.flatMap((session) => [session.getToken(), session.getToken()]));
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
    expect(server.stats.tokenRequests).toBe(1);
    expect(ns.sent.some((body) => body.includes(client.secret))).toBe(false);
    expect(ns.sent.some((body) => body.includes('refreshToken'))).toBe(false);
    expect(JSON.stringify([...ns.storage.data.values()])).not.toContain(client.secret);
    await Promise.all(sessions.map((session) => session.close()));
  });

  it('stores a rotated refresh token and hands it only to the lease holder', async () => {
    server.lifetime = 2;
    const ns = namespace();
    const initial = server.issueRefreshToken(client.id);
    const grant = (): ReturnType<typeof refreshTokenGrant> =>
      refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: client.id, refreshToken: initial });
    const a = createSession({ provider: grant(), sharing: durableObjectSharing(ns) });
    const b = createSession({ provider: grant(), sharing: durableObjectSharing(ns) });
    await a.getToken();
    await b.getToken(); // the stored token, no request
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // into the 1 s margin
    await b.getToken(); // b refreshes with the rotated token a stored, not with the spent initial one
    expect(server.stats.tokenRequests).toBe(2);
    expect(server.stats.refreshTokenReuse).toBe(0);
    const answers = ns.answered.map((text) => JSON.parse(text) as { type: string; refreshToken?: string });
    expect(answers.filter((answer) => answer.type !== 'lease' && answer.refreshToken !== undefined)).toEqual([]);
    expect(answers.filter((answer) => answer.type === 'lease' && answer.refreshToken !== undefined)).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('discards a corrupt stored state, reports corrupt_storage, treats it as a sign-out and fetches anew', async () => {
    const storage = new MemoryStorage();
    storage.data.set(STATE_KEY, { v: PROTOCOL_VERSION, epoch: 3, token: { token: { accessToken: 42 }, epoch: 3 } });
    const session = createSession({ provider: provider(), sharing: durableObjectSharing(namespace(storage)) });
    const errors: string[] = [];
    session.on('error', (error) => errors.push(error.code));
    const token = await session.getToken();
    expect(errors).toEqual(['corrupt_storage']);
    expect(server.isValid(token.accessToken)).toBe(true);
    const state = storage.data.get(STATE_KEY) as { epoch: number };
    expect(state).toMatchObject({ v: PROTOCOL_VERSION, token: { token: { accessToken: token.accessToken } } });
    expect(state.epoch).not.toBe(3); // whatever the lost state said, a chain of before it does not go on
    await session.close();
  });

  it('carries a version 1 record over (token and rotated refresh token) and deletes it; a corrupt one is reported', async () => {
    const storage = new MemoryStorage();
    const now = Date.now();
    const old = { accessToken: 'from-v1', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
    storage.data.set('token', { v: 1, token: old, refreshToken: 'rotated-in-v1' });
    const ns = namespace(storage);
    const session = createSession({ provider: provider(), sharing: durableObjectSharing(ns) });
    expect((await session.getToken()).accessToken).toBe('from-v1');
    expect(server.stats.tokenRequests).toBe(0);
    expect(storage.data.has('token')).toBe(false);
    expect(storage.data.get(STATE_KEY)).toEqual({ v: PROTOCOL_VERSION, epoch: 0, token: { token: old, epoch: 0, refreshToken: 'rotated-in-v1' } });
    await session.close();

    const damaged = new MemoryStorage();
    damaged.data.set('token', { v: 1, token: { accessToken: 42 } });
    const other = createSession({ provider: provider(), sharing: durableObjectSharing(namespace(damaged)) });
    const errors: string[] = [];
    other.on('error', (error) => errors.push(error.code));
    expect(server.isValid((await other.getToken()).accessToken)).toBe(true);
    expect(errors).toEqual(['corrupt_storage']);
    expect(damaged.data.has('token')).toBe(false);
    await other.close();
  });

  it('relays the token endpoint failure to every waiting isolate with its code', async () => {
    server.failNext(1, 400, { body: JSON.stringify({ error: 'invalid_client' }) });
    server.latency = 100;
    const ns = namespace();
    const sessions = [1, 2, 3].map(() => createSession({ provider: provider(), sharing: durableObjectSharing(ns) }));
    const errors = await Promise.all(sessions.map((session) => rejection(session.getToken())));
    expect(errors.map((error) => error.code)).toEqual(['invalid_client', 'invalid_client', 'invalid_client']);
    expect(errors.every((error) => error.status === 400)).toBe(true);
    expect(server.stats.tokenRequests).toBe(1);
    await Promise.all(sessions.map((session) => session.close()));
  });
});

describe('durableObjectSharing: what the coordinator promises survives a restart and a sign-out (in Node)', () => {
  const key = (): string => provider().key;

  it('a restarted coordinator keeps the lease (busy), refuses a lease id it never granted, takes the holder’s token', async () => {
    const ns = namespace();
    const granted = await message(ns, key(), { type: 'acquire', wait: 0, lease: 30_000 });
    expect(granted).toMatchObject({ type: 'lease', epoch: 0 });
    ns.restart();
    expect(await message(ns, key(), { type: 'acquire', wait: 0, lease: 30_000 })).toEqual({ v: PROTOCOL_VERSION, type: 'busy' });
    const now = Date.now();
    const token = { accessToken: 'held', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 60_000 };
    expect(await message(ns, key(), { type: 'fulfil', lease: 'never-granted.1', token })).toMatchObject({ stored: false });
    ns.restart();
    expect(await message(ns, key(), { type: 'fulfil', lease: granted.lease, token })).toMatchObject({ stored: true, epoch: 0 });
    expect(await message(ns, key(), { type: 'acquire', wait: 0, lease: 30_000 })).toMatchObject({ type: 'token', token });
  });

  it('a holder whose token request outlasts leaseTime renews its lease: nobody fetches beside it', async () => {
    server.latency = 1_200; // four times the lease
    const ns = namespace();
    const sessions = [1, 2, 3].map(() => createSession({ provider: provider(), sharing: durableObjectSharing(ns, { leaseTime: 300 }) }));
    const tokens = await Promise.all(sessions.map((session) => session.getToken()));
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
    expect(server.stats.tokenRequests).toBe(1);
    expect(ns.sent.filter((body) => body.includes('"renew"')).length).toBeGreaterThanOrEqual(3);
    await Promise.all(sessions.map((session) => session.close()));
  });

  it('a sign-out while a holder fetches: its token is handed out nowhere, not even to its own caller', async () => {
    server.latency = 300;
    const ns = namespace();
    const [holder, other, later] = [1, 2, 3].map(() => createSession({ provider: provider(), sharing: durableObjectSharing(ns) }));
    const cleared: string[] = [];
    holder!.on('cleared', (origin) => cleared.push(origin));
    const pending = rejection(holder!.getToken());
    await sleep(100);
    await other!.clear();
    const error = await pending;
    expect(error.code).toBe('aborted');
    expect(cleared).toEqual(['remote']);
    const issued = server.stats.tokenRequests;
    const fresh = await later!.getToken();
    expect(server.stats.tokenRequests).toBe(issued + 1);
    expect(JSON.stringify([...ns.storage.data.values()])).toContain(fresh.accessToken);
    expect((await holder!.getToken()).accessToken).toBe(fresh.accessToken);
    await Promise.all([holder!.close(), other!.close(), later!.close()]);
  });

  it('refresh-token chain: after clear() in one isolate, another isolate’s session ends with login_required and sends nothing', async () => {
    const ns = namespace();
    const initial = server.issueRefreshToken(client.id);
    const grant = (): ReturnType<typeof refreshTokenGrant> =>
      refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: client.id, refreshToken: initial });
    const a = createSession({ provider: grant(), sharing: durableObjectSharing(ns) });
    const b = createSession({ provider: grant(), sharing: durableObjectSharing(ns) });
    await a.getToken();
    await b.getToken(); // the stored token: b's chain is the same one
    await a.clear();
    ns.restart(); // and the coordinator restarted since
    const cleared: string[] = [];
    const errors: string[] = [];
    b.on('cleared', (origin) => cleared.push(origin));
    b.on('error', (failure) => errors.push(failure.code));
    const error = await rejection(b.getToken({ forceRefresh: true }));
    expect(error.code).toBe('login_required');
    expect(cleared).toEqual(['remote']);
    expect(errors).toEqual([]); // `cleared` told it: a refusal is no error event
    expect((await rejection(b.getToken())).code).toBe('login_required');
    expect(server.stats.tokenRequests).toBe(1);
    expect(server.stats.refreshTokenReuse).toBe(0);
    expect(JSON.stringify([...ns.storage.data.values()])).not.toMatch(/refreshToken/);
    await Promise.all([a.close(), b.close()]);
  });

  it('a 429 with Retry-After is shared with every isolate and remembered across a restart, with what is left of it', async () => {
    server.failNext(100, 429, { retryAfter: '60' });
    const ns = namespace();
    const a = createSession({ provider: provider(), sharing: durableObjectSharing(ns) });
    const b = createSession({ provider: provider(), sharing: durableObjectSharing(ns) });
    const first = await rejection(a.getToken());
    expect({ code: first.code, retryAfter: first.retryAfter }).toEqual({ code: 'rate_limited', retryAfter: 60_000 });
    ns.restart();
    const second = await rejection(b.getToken());
    expect(second.code).toBe('rate_limited');
    expect(second.retryAfter).toBeGreaterThan(55_000);
    expect(second.retryAfter).toBeLessThanOrEqual(60_000);
    expect(server.stats.tokenRequests).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a Retry-After too long (or infinite) to carry is remembered for an hour at most, never dropped', () => {
    for (const retryAfter of [Number.POSITIVE_INFINITY, 1e15]) {
      expect(describeFailure(new SessionError('rate_limited', 'slow down', { retryAfter }))?.retryAfter).toBe(MAX_RETRY_AFTER);
    }
    expect(describeFailure(new SessionError('rate_limited', 'slow down', { retryAfter: Number.NaN }))).toEqual({
      code: 'rate_limited',
      message: 'slow down',
    });
  });

  it('timestamps from a message are bounded by the receiver’s clock: a token “issued” next year lives its lifetime from now', async () => {
    const future = Date.now() + 365 * 86_400_000;
    const answer = { v: PROTOCOL_VERSION, type: 'token', epoch: 0, token: { accessToken: 'ahead', tokenType: 'Bearer', issuedAt: future, expiresAt: future + 600_000 } };
    const session = createSession({ provider: provider(), sharing: durableObjectSharing(fakeNamespace(() => Promise.resolve(Response.json(answer)))) });
    const before = Date.now();
    const token = await session.getToken();
    expect(token.issuedAt).toBeGreaterThanOrEqual(before);
    expect(token.issuedAt).toBeLessThanOrEqual(Date.now());
    expect(token.expiresAt - token.issuedAt).toBe(600_000);

    const ns = namespace();
    const granted = await message(ns, key(), { type: 'acquire', wait: 0, lease: 30_000 });
    await message(ns, key(), { type: 'fulfil', lease: granted.lease, token: answer.token });
    const stored = (ns.storage.data.get(STATE_KEY) as { token: { token: { issuedAt: number; expiresAt: number } } }).token.token;
    expect(stored.issuedAt).toBeLessThanOrEqual(Date.now());
    expect(stored.expiresAt - stored.issuedAt).toBe(600_000);
    await session.close();
  });

  it('a stored state from a clock that ran ahead is bounded on load: a lease or Retry-After lasts no longer than it could', async () => {
    const storage = new MemoryStorage();
    const far = Date.now() + 86_400_000 * 30;
    const failure = { code: 'rate_limited', message: 'x', retryAfter: 1_000 };
    storage.data.set(STATE_KEY, { v: PROTOCOL_VERSION, epoch: 0, lease: { id: 'held', expiresAt: far, ttl: 200, epoch: 0 } });
    const ns = namespace(storage);
    expect(await message(ns, key(), { type: 'acquire', wait: 0, lease: 1_000 })).toMatchObject({ type: 'busy' });
    await sleep(250);
    expect(await message(ns, key(), { type: 'acquire', wait: 0, lease: 1_000 })).toMatchObject({ type: 'lease' });

    storage.data.set(STATE_KEY, { v: PROTOCOL_VERSION, epoch: 0, backoff: { failure, until: far * 10 } });
    ns.restart();
    const limited = await message(ns, key(), { type: 'acquire', wait: 0, lease: 1_000 });
    expect((limited.failure as { retryAfter: number }).retryAfter).toBeLessThanOrEqual(MAX_RETRY_AFTER);
  });
});

describe('durableObjectSharing: a coordinator that is unreachable or misbehaves → typed errors, never a hang', () => {
  const cases: Array<[string, () => Promise<Response>, string]> = [
    ['the stub throws', () => Promise.reject(new Error('Durable Object reset')), 'sharing_unavailable'],
    ['HTTP 500', () => Promise.resolve(new Response('boom', { status: 500 })), 'sharing_unavailable'],
    ['not JSON', () => Promise.resolve(new Response('<html>', { status: 200 })), 'invalid_message'],
    ['another version', () => Promise.resolve(Response.json({ v: PROTOCOL_VERSION + 1, type: 'busy' })), 'invalid_message'],
    ['the previous version', () => Promise.resolve(Response.json({ v: 1, type: 'busy' })), 'invalid_message'],
    ['an answer to another message', () => Promise.resolve(Response.json({ v: PROTOCOL_VERSION, type: 'done' })), 'invalid_message'],
    ['busy', () => Promise.resolve(Response.json({ v: PROTOCOL_VERSION, type: 'busy' })), 'timeout'],
    ['never answers', () => new Promise<Response>(() => {}), 'timeout'],
    [
      'a failure with an unknown code',
      () => Promise.resolve(Response.json({ v: PROTOCOL_VERSION, type: 'failed', failure: { code: 'made_up', message: 'x' } })),
      'request_failed',
    ],
  ];
  for (const [title, answer, code] of cases) {
    it(`${title} → ${code}`, async () => {
      const session = createSession({ provider: provider(), sharing: durableObjectSharing(fakeNamespace(answer), { timeout: 300 }) });
      const started = Date.now();
      expect((await rejection(session.getToken())).code).toBe(code);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.stats.tokenRequests).toBe(0);
      await session.close();
    });
  }

  it('rejects options that cannot work', () => {
    const ns = fakeNamespace(() => Promise.resolve(new Response()));
    expect(() => durableObjectSharing(undefined as unknown as CoordinatorNamespace)).toThrow(/namespace/);
    for (const options of [{ timeout: 0 }, { timeout: 1.5 }, { leaseTime: 400_000 }, { leaseTime: Number.NaN }]) {
      let error: unknown;
      try {
        durableObjectSharing(ns, options);
      } catch (caught) {
        error = caught;
      }
      expect(isSessionError(error, 'invalid_options')).toBe(true);
    }
  });
});
