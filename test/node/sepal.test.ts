import { describe, expect, it } from 'vitest';
import {
  fromSepalHeaders,
  sepalSessions,
  sepalUser,
  type EarthEngineExpression,
  type SepalEarthEngine,
  type SepalHeaders,
} from '../../src/earth-engine.js';
import { isSessionError, memorySharing, type Session } from '../../src/index.js';
import type { SepalLogin } from '../support/geo-servers.js';
import { useSepalServers } from '../support/sepal-suite.js';

const suite = useSepalServers();

const onePlusTwo: EarthEngineExpression = {
  result: '0',
  values: { '0': { functionInvocationValue: { functionName: 'Number.add', arguments: { left: { constantValue: 1 }, right: { constantValue: 2 } } } } },
};

function connect(headers: SepalHeaders, options: Partial<Parameters<typeof fromSepalHeaders>[1]> = {}): SepalEarthEngine {
  const client = fromSepalHeaders(headers, { sepalHost: suite.sepal.origin, baseUrl: suite.ee.baseUrl, sharing: memorySharing(), backoff: 10, ...options });
  suite.track(client);
  return client;
}

/** Headers of `login` with `sepal-user` rewritten by `edit` (for malformed-header cases). */
function withUser(login: SepalLogin, edit: (user: Record<string, unknown>) => void): Record<string, string> {
  const user = JSON.parse(login.headers['sepal-user'] ?? '{}') as Record<string, unknown>;
  edit(user);
  return { ...login.headers, 'sepal-user': JSON.stringify(user) };
}

function secretsOf(login: SepalLogin): string[] {
  return [login.accessToken, login.refreshToken, login.sessionId];
}

function expectNoSecrets(error: unknown, secrets: string[]): void {
  const text = `${String(error)} ${(error as Error).stack ?? ''} ${JSON.stringify(error)} ${JSON.stringify((error as Error).cause ?? '')}`;
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe('fromSepalHeaders: reading the headers', () => {
  it('reads the session cookie robustly and the sepal-user JSON into a per-user key without secrets', () => {
    const login = suite.sepal.login('alice');
    const variants: SepalHeaders[] = [
      login.headers,
      new Headers(login.headers),
      // Node joins nothing for us: several Cookie values, odd spacing, a look-alike cookie name first.
      { Cookie: ['XSEPAL-SESSIONID=nope', `  SEPAL-SESSIONID = ${login.sessionId} ;theme=dark`], 'SEPAL-USER': login.headers['sepal-user'] },
      // ee-client style: lists, and an underscore in the header name.
      { cookie: [login.headers.cookie ?? ''], sepal_user: [login.headers['sepal-user'] ?? ''] },
    ];
    const users = variants.map((headers) => sepalUser(headers, { sepalHost: suite.sepal.origin }));
    expect(new Set(users.map((user) => user.key)).size).toBe(1);
    const [user] = users;
    expect(user).toMatchObject({ username: 'alice', project: 'ee-alice', legacyProject: false, refreshBeforeExpiry: 600_000 });
    expect(user?.key).toContain('alice');
    for (const secret of secretsOf(login)) expect(user?.key).not.toContain(secret);
    // A bare host means https; the key names host and user, then a SHA-256 key of the session id (22 base64url chars).
    expect(sepalUser(login.headers, { sepalHost: 'sepal.io' }).key).toMatch(/^sepal\|https%3A%2F%2Fsepal\.io\|alice\|[\w-]{22}$/);
  });

  it('missing or invalid cookie, and malformed sepal-user, are invalid_credentials naming the field, never the values', () => {
    const login = suite.sepal.login('alice');
    const cases: Array<[SepalHeaders, RegExp]> = [
      [{ 'sepal-user': login.headers['sepal-user'] }, /SEPAL-SESSIONID cookie is missing/],
      [{ ...login.headers, cookie: 'theme=dark; other=1' }, /SEPAL-SESSIONID cookie is missing/],
      [{ ...login.headers, cookie: `SEPAL-SESSIONID=${login.sessionId} x` }, /SEPAL-SESSIONID cookie is malformed/],
      [{ ...login.headers, cookie: 'SEPAL-SESSIONID=' }, /SEPAL-SESSIONID cookie is malformed/],
      [{ cookie: login.headers.cookie }, /sepal-user header is missing/],
      [{ ...login.headers, 'sepal-user': [login.headers['sepal-user'] ?? '', '{}'] }, /sepal-user header must appear once/],
      [{ ...login.headers, 'sepal-user': (login.headers['sepal-user'] ?? '').slice(0, -1) }, /sepal-user header is not valid JSON/],
      [withUser(login, (user) => delete user.username), /sepal-user\.username is missing or invalid/],
      [withUser(login, (user) => (user.googleTokens = null)), /sepal-user\.googleTokens is missing or invalid \(the user has not connected a Google account/],
      [withUser(login, (user) => delete (user.googleTokens as Record<string, unknown>).accessToken), /sepal-user\.googleTokens\.accessToken is missing/],
      [withUser(login, (user) => ((user.googleTokens as Record<string, unknown>).projectId = null)), /sepal-user\.googleTokens\.projectId is missing/],
      [
        withUser(login, (user) => ((user.googleTokens as Record<string, unknown>).accessTokenExpiryDate = 'tomorrow')),
        /sepal-user\.googleTokens\.accessTokenExpiryDate is missing or invalid/,
      ],
    ];
    for (const [headers, message] of cases) {
      let caught: unknown;
      try {
        sepalUser(headers, { sepalHost: suite.sepal.origin });
      } catch (error) {
        caught = error;
      }
      expect(isSessionError(caught, 'invalid_credentials'), String(message)).toBe(true);
      expect((caught as Error).message).toMatch(message);
      expectNoSecrets(caught, secretsOf(login));
    }
    expect(() => sepalUser(login.headers, { sepalHost: '' })).toThrow(expect.objectContaining({ code: 'invalid_options' }) as Error);
    expect(() => sepalUser(login.headers, { sepalHost: 'ftp://sepal.io' })).toThrow(/http/);
  });
});

describe('fromSepalHeaders: tokens', () => {
  it('uses the header access token while it is fresh: no call to SEPAL', async () => {
    const login = suite.sepal.login('alice', { expiresIn: 3600 });
    const client = connect(login.headers);
    expect(await Promise.all([client.operations.getInfo(onePlusTwo), client.operations.getInfo(onePlusTwo)])).toEqual([3, 3]);
    expect(suite.sepal.refreshes).toEqual({});
    expect(suite.ee.calls.every((call) => call.token === login.accessToken && call.userProject === 'ee-alice')).toBe(true);
  });

  it('an expired header token is refreshed through SEPAL once for 20 concurrent calls, with the session cookie', async () => {
    suite.sepal.latency = 50;
    const login = suite.sepal.login('alice', { expiresIn: -60 });
    const client = connect(login.headers);
    const results = await Promise.all(Array.from({ length: 20 }, () => client.operations.getInfo(onePlusTwo)));
    expect(results.every((value) => value === 3)).toBe(true);
    expect(suite.sepal.refreshes).toEqual({ alice: 1 });
    expect(suite.sepal.cookies).toEqual([`SEPAL-SESSIONID=${login.sessionId}`]);
    expect(suite.ee.calls).toHaveLength(20);
    expect(new Set(suite.ee.calls.map((call) => call.token)).size).toBe(1);
    expect(suite.ee.calls[0]?.token).not.toBe(login.accessToken);
    expect(suite.sepal.userOf(suite.ee.calls[0]?.token ?? '')).toBe('alice');
  });

  it("the user's REFRESH_IF_EXPIRES_IN_MINUTES is the margin", async () => {
    // 5 minutes left: inside the default 10-minute margin → refresh; outside a 2-minute margin → keep.
    const inside = connect(suite.sepal.login('alice', { expiresIn: 300 }).headers);
    await inside.operations.getInfo(onePlusTwo);
    expect(suite.sepal.refreshes).toEqual({ alice: 1 });
    const outside = connect(suite.sepal.login('bob', { expiresIn: 300, refreshIfExpiresInMinutes: 2 }).headers);
    expect(outside.user.refreshBeforeExpiry).toBe(120_000);
    await outside.operations.getInfo(onePlusTwo);
    expect(suite.sepal.refreshes).toEqual({ alice: 1 });
  });

  it('two SEPAL users never share tokens, even when their calls interleave', async () => {
    suite.sepal.latency = 20;
    const alice = connect(suite.sepal.login('alice', { expiresIn: 0 }).headers);
    const bob = connect(suite.sepal.login('bob', { expiresIn: 0 }).headers);
    expect(alice.user.key).not.toBe(bob.user.key);
    await Promise.all(Array.from({ length: 10 }, (_, index) => (index % 2 === 0 ? alice : bob).operations.getInfo(onePlusTwo)));
    expect(suite.sepal.refreshes).toEqual({ alice: 1, bob: 1 });
    for (const call of suite.ee.calls) {
      const owner = suite.sepal.userOf(call.token);
      expect(call.path).toBe(`/v1/projects/ee-${owner}/value:compute`);
      expect(call.userProject).toBe(`ee-${owner}`);
    }
    expect(new Set(suite.ee.calls.map((call) => call.token)).size).toBe(2);
  });

  it('a token the API rejects is replaced through SEPAL, not by the header token again', async () => {
    const login = suite.sepal.login('alice');
    const client = connect(login.headers);
    await client.operations.getInfo(onePlusTwo);
    // Pretend Google revoked the header token: the EE stand-in refuses it from now on.
    const realIsValid = suite.sepal.isValid.bind(suite.sepal);
    suite.sepal.isValid = (token) => token !== login.accessToken && realIsValid(token);
    try {
      expect(await client.operations.getInfo(onePlusTwo)).toBe(3);
    } finally {
      suite.sepal.isValid = realIsValid;
    }
    expect(suite.sepal.refreshes).toEqual({ alice: 1 });
  });

  it('SEPAL refusing the cookie (401) or having no Google tokens (204) is invalid_grant; 503 is retried', async () => {
    const signedOut = suite.sepal.login('alice', { expiresIn: 0 });
    suite.sepal.logout(signedOut.sessionId);
    const error = await connect(signedOut.headers).operations.getInfo(onePlusTwo).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid_grant', status: 401 });
    expect((error as Error).message).toMatch(/sign in to SEPAL again/);
    expectNoSecrets(error, secretsOf(signedOut));

    const revoked = suite.sepal.login('bob', { expiresIn: 0 });
    suite.sepal.revokeGoogle('bob');
    await expect(connect(revoked.headers).operations.getInfo(onePlusTwo)).rejects.toMatchObject({ code: 'invalid_grant', status: 204 });

    const flaky = suite.sepal.login('carol', { expiresIn: 0 });
    suite.sepal.failNext(1, 503);
    expect(await connect(flaky.headers).operations.getInfo(onePlusTwo)).toBe(3);
    expect(suite.sepal.refreshes.carol).toBe(2);
  });

  it("the refresh endpoint is configurable: ee-client's credentials-file download (GET, snake_case)", async () => {
    const login = suite.sepal.login('alice', { expiresIn: 0 });
    const client = connect(login.headers, {
      refreshPath: '/api/user-files/download?path=%2F.config%2Fearthengine%2Fcredentials',
      refreshMethod: 'GET',
    });
    expect(await client.operations.getInfo(onePlusTwo)).toBe(3);
    expect(suite.sepal.refreshes).toEqual({ alice: 1 });
    expect(suite.sepal.userOf(suite.ee.calls[0]?.token ?? '')).toBe('alice');
  });
});

describe('sepalSessions with a session pool', () => {
  /** The pool contract the presets rely on (`createSessionPool` in `shared-session/pool`): `get` creates on a miss. */
  function pool(create: (key: string) => Session) {
    const sessions = new Map<string, Session>();
    const created: string[] = [];
    return {
      created,
      get(key: string): Session {
        let session = sessions.get(key);
        if (session === undefined) {
          sessions.set(key, (session = create(key)));
          created.push(key);
        }
        return session;
      },
      close: () => Promise.all([...sessions.values()].map((session) => session.close())).then(() => undefined),
    };
  }

  it('one session per user across requests; each request gets its own user and project', async () => {
    suite.sepal.latency = 20;
    const sepalUsers = sepalSessions({ sepalHost: suite.sepal.origin, baseUrl: suite.ee.baseUrl, sharing: memorySharing() });
    const sessions = pool(sepalUsers.create);
    suite.track(sessions);
    const alice = suite.sepal.login('alice', { expiresIn: 0 });
    const bob = suite.sepal.login('bob', { expiresIn: 0 });
    // Six requests, three per user, all at once.
    const requests = [alice, bob, alice, bob, alice, bob].map((login) => sepalUsers.earthEngine(login.headers, sessions));
    const results = await Promise.all(requests.map((client) => client.operations.getInfo(onePlusTwo)));
    expect(results).toEqual([3, 3, 3, 3, 3, 3]);
    expect(sessions.created).toHaveLength(2);
    expect(suite.sepal.refreshes).toEqual({ alice: 1, bob: 1 });
    for (const call of suite.ee.calls) expect(call.path).toBe(`/v1/projects/ee-${suite.sepal.userOf(call.token)}/value:compute`);
    // Closing a request's client leaves the pooled session open.
    await requests[0]?.close();
    expect(await sepalUsers.earthEngine(alice.headers, sessions).operations.getInfo(onePlusTwo)).toBe(3);
    expect(suite.sepal.refreshes).toEqual({ alice: 1, bob: 1 });
    expect(() => sepalUsers.create('sepal|somebody')).toThrow(expect.objectContaining({ code: 'invalid_options' }) as Error);
  });
});
