import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, refreshTokenGrant, type RefreshTokenGrantOptions } from '../../src/index.js';
import { mayHaveArrived } from '../../src/providers/refresh-in-flight.js';
import { freePort } from '../support/free-port.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule: a refresh token is never sent twice. One that left without an answer may be spent at the server (rotated,
// its answer late or lost): the request is waited on for `lateAnswerWindow`, every retry and later call joins it, and
// when no answer comes the grant ends (`invalid_grant`, then `login_required`) instead of the token being sent again.
// Only a failure that proves nothing left (connection refused) lets it be sent again.

let server: TokenServer;
beforeAll(async () => {
  server = await startTokenServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

const codeOf = (error: unknown): string => (isSessionError(error) ? error.code : String(error));
const outcomeOf = (promise: Promise<unknown>): Promise<string> => promise.then(() => 'token', codeOf);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
let clients = 0;

function grant(overrides: Partial<RefreshTokenGrantOptions> = {}): RefreshTokenGrantOptions {
  // A client per case: this process remembers each grant's rotations by credential key.
  const client = server.addClient(`sent-once-${++clients}`);
  return { tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, refreshToken: server.issueRefreshToken(client.id), backoff: 10, ...overrides };
}

it('a server late by any amount against any attempt timeout and window: one send, never a reuse; served when the answer comes within the window', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        latency: fc.integer({ min: 0, max: 900 }),
        timeout: fc.integer({ min: 50, max: 400 }),
        window: fc.integer({ min: 300, max: 1_200 }),
        attempts: fc.integer({ min: 1, max: 4 }),
      }),
      async ({ latency, timeout, window, attempts }) => {
        server.reset();
        const options = grant({ timeout, attempts, lateAnswerWindow: window });
        const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
        server.latency = latency;
        const started = Date.now();
        const first = await outcomeOf(session.getToken());
        const took = Date.now() - started;
        // The late request reaches the server's handler (which rotates, or counts a reuse).
        await sleep(Math.max(0, latency - took) + 300);
        server.latency = 0;
        const again = await outcomeOf(session.getToken({ forceRefresh: true }));
        // Created again from the app's original refresh token (a pool evicted the session): continues, never resends.
        const recreated = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
        const fromOriginal = await outcomeOf(recreated.getToken({ forceRefresh: true }));
        await Promise.all([session.close(), recreated.close()]);
        expect(server.stats.refreshTokenReuse).toBe(0);
        expect(first).toMatch(/^(token|invalid_grant)$/);
        // Bounded: the window (and a stopped-timer grace of 1 s at most) plus the answer's read.
        expect(took).toBeLessThan(window + 1_000 + 1_000);
        if (latency + 400 < window) expect(first).toBe('token');
        if (latency > window + 400) expect(first).toBe('invalid_grant');
        if (first === 'token') {
          expect({ again, fromOriginal, sent: server.stats.tokenRequests }).toEqual({ again: 'token', fromOriginal: 'token', sent: 3 });
        } else {
          // Signed out (memorySharing keeps answering the provider's `invalid_grant`; the transports that share a
          // refresh token turn it into a sign-out, `login_required`): nothing more is sent either way.
          expect({ again, fromOriginal, sent: server.stats.tokenRequests }).toEqual({ again: expect.stringMatching(/^(invalid_grant|login_required)$/), fromOriginal: 'invalid_grant', sent: 1 });
        }
      },
    ),
    { numRuns: 12 },
  );
}, 120_000);

it('a session closed while its refresh is late, and one created again for the same grant: the second joins the request in flight', async () => {
  const options = grant({ timeout: 100, attempts: 4 });
  server.latency = 800;
  const first = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
  const abandoned = outcomeOf(first.getToken());
  await sleep(250);
  await first.close();
  expect(await abandoned).toBe('closed');
  const second = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
  const token = await second.getToken();
  expect(server.isValid(token.accessToken)).toBe(true);
  await second.close();
  expect({ sent: server.stats.tokenRequests, reused: server.stats.refreshTokenReuse }).toEqual({ sent: 1, reused: 0 });
});

it('two sessions of one grant in one process (separate sharing) refreshing at once against a late server: one send, both served', async () => {
  const options = grant({ timeout: 100, attempts: 2 });
  server.latency = 500;
  const sessions = [0, 1].map(() => createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() }));
  const tokens = await Promise.all(sessions.map((session) => session.getToken()));
  expect(tokens[0]!.accessToken).toBe(tokens[1]!.accessToken);
  await Promise.all(sessions.map((session) => session.close()));
  expect({ sent: server.stats.tokenRequests, reused: server.stats.refreshTokenReuse }).toEqual({ sent: 1, reused: 0 });
});

it('an answer (503) is no spend: retried with the same refresh token', async () => {
  const session = createSession({ provider: refreshTokenGrant(grant({ attempts: 2 })), sharing: memorySharing() });
  server.failNext(1, 503);
  expect(await outcomeOf(session.getToken())).toBe('token');
  await session.close();
  expect({ sent: server.stats.tokenRequests, reused: server.stats.refreshTokenReuse }).toEqual({ sent: 2, reused: 0 });
});

it('an app fetch that never settles once the server has served: the window still ends it (invalid_grant), nothing sent again', async () => {
  const options = grant({ timeout: 100, lateAnswerWindow: 500 });
  // Sends, and then hangs for ever, deaf to its signal (a broken fetch wrapper of an app).
  const deaf: typeof fetch = (input, init) => {
    void fetch(input, init).catch(() => undefined);
    return new Promise<Response>(() => undefined);
  };
  const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing(), fetch: deaf });
  const started = Date.now();
  expect(await outcomeOf(session.getToken())).toBe('invalid_grant');
  expect(Date.now() - started).toBeLessThan(500 + 1_000 + 1_000);
  expect(await outcomeOf(session.getToken({ forceRefresh: true }))).toMatch(/^(invalid_grant|login_required)$/);
  await session.close();
  expect({ sent: server.stats.tokenRequests, reused: server.stats.refreshTokenReuse }).toEqual({ sent: 1, reused: 0 });
});

it('what counts as a request that may have arrived: a connection that broke once made; not a refused one, nor a browser TypeError that says nothing', () => {
  const failed = (code?: string, message = 'x'): TypeError => new TypeError('fetch failed', code === undefined ? {} : { cause: Object.assign(new Error(message), { code }) });
  for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']) expect(mayHaveArrived(failed(code)), code).toBe(true);
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', undefined]) expect(mayHaveArrived(failed(code)), String(code)).toBe(false);
  expect(mayHaveArrived(new TypeError('Failed to fetch'))).toBe(false);
  // Deno: the reason is in the message.
  expect(mayHaveArrived(new TypeError('error sending request: connection closed before message completed'))).toBe(true);
  expect(mayHaveArrived(new TypeError('error sending request: tcp connect error: Connection refused (os error 111)'))).toBe(false);
});

it('lateAnswerWindow out of range: invalid_options at once', () => {
  for (const lateAnswerWindow of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
    expect(() => refreshTokenGrant(grant({ lateAnswerWindow }))).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  }
});

// A server of our own, to break connections at chosen points. It rotates: rt-0 → rt-1, and counts every presentation.
describe_connection_faults();

function describe_connection_faults(): void {
  let faulty: Server;
  let url: string;
  let presented: string[] = [];
  let fault: (req: IncomingMessage, res: ServerResponse) => boolean = () => false;
  beforeAll(async () => {
    faulty = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const refreshToken = new URLSearchParams(body).get('refresh_token') ?? '';
        presented.push(refreshToken);
        if (fault(req, res)) return;
        if (refreshToken !== 'rt-0' || presented.filter((each) => each === 'rt-0').length > 1) {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at-1', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-1' }));
      });
    });
    await new Promise<void>((resolve) => faulty.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(faulty.address() as AddressInfo).port}/token`;
  });
  afterAll(() => {
    faulty.closeAllConnections();
    return new Promise<void>((resolve) => faulty.close(() => resolve()));
  });
  beforeEach(() => {
    presented = [];
    fault = () => false;
  });

  const cases: Array<[string, (req: IncomingMessage, res: ServerResponse) => void]> = [
    ['the connection dropped after the request was read', (req) => req.socket.destroy()],
    ['the connection dropped after a 2xx status, before the body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      setTimeout(() => res.socket?.destroy(), 50);
    }],
  ];
  for (const [what, breakIt] of cases) {
    it(`${what}: maybe spent, never sent again (invalid_grant; asked again, or by a provider created again: nothing sent)`, async () => {
      let once = true;
      fault = (req, res) => {
        if (!once) return false;
        once = false;
        breakIt(req, res);
        return true;
      };
      const options = { tokenUrl: url, clientId: `dropped-${++clients}`, refreshToken: 'rt-0', attempts: 4, backoff: 10 };
      const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
      expect(await outcomeOf(session.getToken())).toBe('invalid_grant');
      expect(await outcomeOf(session.getToken({ forceRefresh: true }))).toMatch(/^(invalid_grant|login_required)$/);
      const recreated = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
      expect(await outcomeOf(recreated.getToken())).toBe('invalid_grant');
      await Promise.all([session.close(), recreated.close()]);
      expect(presented).toEqual(['rt-0']);
    });
  }

  it('connection refused (nothing listening): nothing left, so the same refresh token is sent when the server is back', async () => {
    const port = await freePort();
    const options = { tokenUrl: `http://127.0.0.1:${port}/token`, clientId: `refused-${++clients}`, refreshToken: 'rt-0', attempts: 3, backoff: 10 };
    const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
    expect(await outcomeOf(session.getToken())).toBe('endpoint_unavailable');
    // The token endpoint comes back on that port.
    const back = createServer((req, res) => faulty.emit('request', req, res));
    await new Promise<void>((resolve) => back.listen(port, '127.0.0.1', resolve));
    try {
      const again = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
      expect((await again.getToken()).accessToken).toBe('at-1');
      await Promise.all([session.close(), again.close()]);
      expect(presented).toEqual(['rt-0']);
    } finally {
      back.closeAllConnections();
      await new Promise<void>((resolve) => back.close(() => resolve()));
    }
  });
}
