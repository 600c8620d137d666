import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, customProvider, memorySharing, refreshTokenGrant, type Session } from '../../src/index.js';
import { createSessionPool, type SessionPool } from '../../src/pool.js';
import { sentinelHub } from '../../src/sentinel-hub.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let tenant: { id: string; secret: string };
const pools: SessionPool[] = [];
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  server = await startTokenServer();
  tenant = server.addClient('shared-client-id');
});
afterAll(() => server.close());
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  await Promise.all(open.splice(0).map((item) => item.close()));
  server.reset();
});

describe('the credential key holds everything that makes a token different', () => {
  it('pool: a user who knows only the client id (wrong secret) must not get the token of the user who has the secret', async () => {
    // A multi-tenant server: each user brings their own client credentials, the pool is keyed by user.
    const credentials = new Map([
      ['alice', { clientId: tenant.id, clientSecret: tenant.secret }],
      ['mallory', { clientId: tenant.id, clientSecret: 'not-the-secret' }],
    ]);
    const sharing = memorySharing();
    const users = createSessionPool({
      create: (user) =>
        createSession({ provider: clientCredentials({ tokenUrl: server.tokenUrl, ...credentials.get(user)! }), sharing }),
    });
    pools.push(users);

    const alices = await users.getToken('alice');
    expect(server.isValid(alices.accessToken)).toBe(true);
    // Expected: mallory's own token request, refused with invalid_client.
    const mallory = await users.getToken('mallory').then(
      (token) => ({ token }),
      (error: unknown) => ({ error }),
    );
    expect(mallory).toEqual({ error: expect.objectContaining({ code: 'invalid_client' }) });
    expect(server.stats.tokenRequests).toBe(2);
  });

  it('sentinelHub(): an instance with the right client id and a wrong secret must not reuse another instance’s token', async () => {
    const sharing = memorySharing();
    const options = { tokenUrl: server.tokenUrl, baseUrl: server.origin, sharing };
    const owner = sentinelHub({ clientId: tenant.id, clientSecret: tenant.secret, ...options });
    const guesser = sentinelHub({ clientId: tenant.id, clientSecret: 'guessed', ...options });
    open.push(owner, guesser);
    const first = await owner.session.getToken();
    expect(server.isValid(first.accessToken)).toBe(true);
    const result = await guesser.session.getToken().then(
      (token) => ({ token: token.accessToken === first.accessToken ? 'the owner’s token' : 'another token' }),
      (error: unknown) => ({ error }),
    );
    // Expected: the guesser's own token request fails with invalid_client. Observed: the owner's token, no request.
    expect(result).toEqual({ error: expect.objectContaining({ code: 'invalid_client' }) });
    expect(server.stats.tokenRequests).toBe(2);
  });
});

describe('pool keys are hashed without a lossy encoding', () => {
  it('two distinct keys that differ only in lone surrogates must get two sessions', async () => {
    const made: string[] = [];
    const sessions: Session[] = [];
    const users = createSessionPool({
      create: (key) => {
        made.push(key);
        // The provider key is a counter, so that only the pool's own key handling is under test.
        const session = createSession({
          provider: customProvider({ key: `user-${made.length}`, fetchToken: () => Promise.reject(new Error('unused')) }),
          sharing: memorySharing(),
        });
        sessions.push(session);
        return session;
      },
    });
    pools.push(users);
    const first = 'user-\uD800';
    const second = 'user-\uDFFF';
    expect(first).not.toBe(second);
    users.get(first);
    // Expected: a miss (a new session for `second`); observed: `second` gets the session created for `first`.
    expect(users.has(second)).toBe(false);
    users.get(second);
    expect(made).toEqual([first, second]);
  });
});

describe('a pooled refresh-token session keeps its rotation across eviction', () => {
  it('eviction and re-creation must not send a refresh token that was already exchanged (reuse revokes the family)', async () => {
    const rotating = server.addClient('rotating-client');
    // "your own store: user id → refresh token", exactly as README's pool example (no onRotate).
    const refreshTokens = new Map<string, string>([
      ['user-1', server.issueRefreshToken(rotating.id)],
      ['user-2', server.issueRefreshToken(rotating.id)],
    ]);
    const pool = createSessionPool({
      max: 1,
      create: (userId) =>
        createSession({
          provider: refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: rotating.id, refreshToken: refreshTokens.get(userId) ?? '', key: userId }),
          sharing: memorySharing(),
        }),
    });
    pools.push(pool);
    await pool.getToken('user-1'); // rotates user-1's refresh token
    await pool.getToken('user-2'); // evicts user-1 (max 1)
    const again = await pool.getToken('user-1', { forceRefresh: true }).then(
      () => 'ok',
      (error: unknown) => (error as { code?: string }).code,
    );
    // Observed: the re-created session sends user-1's original, already rotated refresh token: invalid_grant, and the
    // server counts a reuse (a real server with reuse detection revokes every token of that grant).
    expect({ again, reuse: server.stats.refreshTokenReuse }).toEqual({ again: 'ok', reuse: 0 });
  });
});
