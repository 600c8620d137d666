import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, refreshTokenGrant, type SessionError } from '../../src/index.js';
import {
  type CoordinatorNamespace,
  type CoordinatorStorage,
  durableObjectSharing,
  TokenCoordinator,
} from '../../src/cloudflare.js';
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
} {
  const objects = new Map<string, TokenCoordinator>();
  const sent: string[] = [];
  const answered: string[] = [];
  return {
    storage,
    sent,
    answered,
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

  it('discards a corrupt stored record, reports corrupt_storage and fetches anew', async () => {
    const storage = new MemoryStorage();
    storage.data.set('token', { v: 1, token: { accessToken: 42 } });
    const session = createSession({ provider: provider(), sharing: durableObjectSharing(namespace(storage)) });
    const errors: string[] = [];
    session.on('error', (error) => errors.push(error.code));
    const token = await session.getToken();
    expect(errors).toEqual(['corrupt_storage']);
    expect(server.isValid(token.accessToken)).toBe(true);
    expect(storage.data.get('token')).toMatchObject({ v: 1, token: { accessToken: token.accessToken } });
    await session.close();
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

describe('durableObjectSharing: a coordinator that is unreachable or misbehaves → typed errors, never a hang', () => {
  const cases: Array<[string, () => Promise<Response>, string]> = [
    ['the stub throws', () => Promise.reject(new Error('Durable Object reset')), 'sharing_unavailable'],
    ['HTTP 500', () => Promise.resolve(new Response('boom', { status: 500 })), 'sharing_unavailable'],
    ['not JSON', () => Promise.resolve(new Response('<html>', { status: 200 })), 'invalid_message'],
    ['another version', () => Promise.resolve(Response.json({ v: 2, type: 'busy' })), 'invalid_message'],
    ['an answer to another message', () => Promise.resolve(Response.json({ v: 1, type: 'done' })), 'invalid_message'],
    ['busy', () => Promise.resolve(Response.json({ v: 1, type: 'busy' })), 'timeout'],
    ['never answers', () => new Promise<Response>(() => {}), 'timeout'],
    [
      'a failure with an unknown code',
      () => Promise.resolve(Response.json({ v: 1, type: 'failed', failure: { code: 'made_up', message: 'x' } })),
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
