import { describe, expect, it } from 'vitest';
import {
  clientCredentials,
  createSession,
  isSessionError,
  memorySharing,
  refreshTokenGrant,
  type Session,
  type Token,
} from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('app', 's3cr3t-value');

/** A fresh transport per test so that the per-context session cache never leaks state between tests. */
function session(options: Partial<Parameters<typeof createSession>[0]> & { scope?: string } = {}): Session {
  const { scope, ...rest } = options;
  const created = createSession({
    provider: clientCredentials({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, clientSecret: suite.client.secret, scope }),
    sharing: memorySharing(),
    ...rest,
  });
  suite.track(created);
  return created;
}

async function callApi(token: Token): Promise<number> {
  const response = await fetch(suite.server.apiUrl, { headers: { authorization: `${token.tokenType} ${token.accessToken}` } });
  return response.status;
}

describe('createSession with clientCredentials against a real token server', () => {
  it('authenticates lazily and the token works on the protected API', async () => {
    const s = session();
    expect(suite.server.stats.tokenRequests).toBe(0);
    const before = Date.now();
    const token = await s.getToken();
    expect(suite.server.stats.tokenRequests).toBe(1);
    expect(token.tokenType).toBe('Bearer');
    expect(token.issuedAt).toBeGreaterThanOrEqual(before);
    expect(token.expiresAt).toBe(token.issuedAt + 3600_000);
    expect(await callApi(token)).toBe(200);
  });

  it('1,000 concurrent getToken calls make exactly one token request', async () => {
    suite.server.latency = 50;
    const s = session();
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => s.getToken()));
    expect(suite.server.stats.tokenRequests).toBe(1);
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
  });

  it('supports client_secret_basic', async () => {
    const s = createSession({
      provider: clientCredentials({
        tokenUrl: suite.server.tokenUrl,
        clientId: suite.client.id,
        clientSecret: suite.client.secret,
        authMethod: 'client_secret_basic',
      }),
      sharing: memorySharing(),
    });
    suite.track(s);
    expect(await callApi(await s.getToken())).toBe(200);
  });

  it('emits authenticated and token in the context that called the endpoint', async () => {
    const s = session();
    const seen: string[] = [];
    s.on('authenticated', () => seen.push('authenticated'));
    const off = s.on('token', (_token, source) => seen.push(`token:${source}`));
    await s.getToken();
    off();
    await s.getToken({ forceRefresh: true });
    expect(seen).toEqual(['authenticated', 'token:endpoint', 'authenticated']);
  });
});

describe('freshness', () => {
  it('refreshes a token within the margin before returning it (fake clock)', async () => {
    let now = Date.now();
    const s = session({ clock: { now: () => now }, refreshBeforeExpiry: 120_000 });
    const first = await s.getToken();
    now = first.expiresAt - 121_000; // just outside the margin: still fresh
    expect((await s.getToken()).accessToken).toBe(first.accessToken);
    now = first.expiresAt - 119_000; // inside the margin: refreshed before it is returned
    const second = await s.getToken();
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('uses half the lifetime as margin for short-lived tokens', async () => {
    suite.server.lifetime = 60; // shorter than twice the 120 s margin
    let now = Date.now();
    const s = session({ clock: { now: () => now } });
    const first = await s.getToken();
    now = first.issuedAt + 29_000;
    expect((await s.getToken()).accessToken).toBe(first.accessToken);
    now = first.issuedAt + 30_000;
    expect((await s.getToken()).accessToken).not.toBe(first.accessToken);
  });

  it('checks expiry on every read, after a long pause with no timer firing', async () => {
    let now = Date.now();
    const s = session({ clock: { now: () => now } });
    const first = await s.getToken();
    now += 5 * 3600_000; // the machine slept for five hours
    const second = await s.getToken();
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.expiresAt).toBeGreaterThan(now);
  });

  it('honours minValidity', async () => {
    let now = Date.now();
    const s = session({ clock: { now: () => now } });
    const first = await s.getToken();
    now += 1000_000;
    expect((await s.getToken()).accessToken).toBe(first.accessToken);
    expect((await s.getToken({ minValidity: 3000_000 })).accessToken).not.toBe(first.accessToken);
  });

  it('computes expiresAt from the time the request was sent', async () => {
    suite.server.latency = 300;
    const s = session();
    const sentBefore = Date.now();
    const token = await s.getToken();
    expect(token.issuedAt).toBeLessThan(sentBefore + 100);
    expect(token.expiresAt - token.issuedAt).toBe(3600_000);
  });

  it('refreshes ahead of expiry on its own (leader timer)', async () => {
    suite.server.lifetime = 2; // 2 s tokens: margin clamps to 1 s
    const s = session();
    const tokens: Token[] = [];
    s.on('token', (token) => tokens.push(token));
    await s.getToken();
    await new Promise((resolve) => setTimeout(resolve, 2300));
    expect(suite.server.stats.tokenRequests).toBeGreaterThanOrEqual(2);
    expect(suite.server.stats.tokenRequests).toBeLessThanOrEqual(3);
    expect(await callApi(await s.getToken())).toBe(200);
  });
});

describe('one session per credential', () => {
  it('same credential → one core; different scope → another session', async () => {
    const sharing = memorySharing();
    const make = (scope?: string): Session => {
      const created = createSession({
        provider: clientCredentials({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, clientSecret: suite.client.secret, scope }),
        sharing,
      });
      suite.track(created);
      return created;
    };
    const a = make();
    const b = make();
    const c = make('other');
    const [ta, tb, tc] = await Promise.all([a.getToken(), b.getToken(), c.getToken()]);
    expect(ta.accessToken).toBe(tb.accessToken);
    expect(tc.accessToken).not.toBe(ta.accessToken);
    expect(suite.server.stats.tokenRequests).toBe(2);
    expect(a.key).not.toContain(suite.client.secret);
    // Closing one handle keeps the shared core alive for the other.
    await a.close();
    expect((await b.getToken()).accessToken).toBe(ta.accessToken);
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('clear() drops the token; the next call authenticates again', async () => {
    const s = session();
    const cleared: string[] = [];
    s.on('cleared', (origin) => cleared.push(origin));
    const first = await s.getToken();
    await s.clear();
    expect(cleared).toEqual(['local']);
    const second = await s.getToken();
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('close() makes later calls reject with closed', async () => {
    const s = session();
    await s.getToken();
    await s.close();
    await expect(s.getToken()).rejects.toMatchObject({ name: 'SessionError', code: 'closed' });
    expect(() => s.on('token', () => undefined)).toThrow(expect.objectContaining({ code: 'closed' }));
  });

  it('an aborted session signal closes the session', async () => {
    const controller = new AbortController();
    const s = session({ signal: controller.signal });
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 0));
    await expect(s.getToken()).rejects.toMatchObject({ code: 'closed' });
  });
});

describe('refreshTokenGrant', () => {
  it('rotates refresh tokens and never sends a used one again', async () => {
    const rotated: string[] = [];
    const initial = suite.server.issueRefreshToken(suite.client.id);
    const s = createSession({
      provider: refreshTokenGrant({
        tokenUrl: suite.server.tokenUrl,
        clientId: suite.client.id,
        refreshToken: initial,
        onRotate: (value) => rotated.push(value),
      }),
      sharing: memorySharing(),
    });
    suite.track(s);
    for (let round = 0; round < 5; round++) {
      const token = await s.getToken({ forceRefresh: true });
      expect(await callApi(token)).toBe(200);
    }
    expect(rotated).toHaveLength(5);
    expect(new Set(rotated).size).toBe(5);
    expect(suite.server.stats.refreshTokenReuse).toBe(0);
    expect(s.key).not.toContain(initial);
  });

  it('two users of one client never share a session', async () => {
    const sharing = memorySharing();
    const make = (refreshToken: string): Session => {
      const created = createSession({ provider: refreshTokenGrant({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, refreshToken }), sharing });
      suite.track(created);
      return created;
    };
    const [a, b] = await Promise.all([make(suite.server.issueRefreshToken(suite.client.id)).getToken(), make(suite.server.issueRefreshToken(suite.client.id)).getToken()]);
    expect(a.accessToken).not.toBe(b.accessToken);
  });

  it('an unknown refresh token is invalid_grant', async () => {
    const s = createSession({
      provider: refreshTokenGrant({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, refreshToken: 'rt_forged' }),
      sharing: memorySharing(),
    });
    suite.track(s);
    const error: unknown = await s.getToken().catch((caught: unknown) => caught);
    expect(isSessionError(error, 'invalid_grant')).toBe(true);
    expect(String((error as Error).message)).not.toContain('rt_forged');
  });
});

describe('clear() during a token request', () => {
  it('the pending call rejects with aborted, its token is never adopted, and the next call authenticates afresh', async () => {
    suite.server.latency = 300;
    const s = session();
    const pending = s.getToken();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await s.clear();
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
    suite.server.latency = 0;
    const next = await s.getToken();
    expect(await callApi(next)).toBe(200);
  });
});
