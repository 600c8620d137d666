import { describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, refreshTokenGrant, type SessionError } from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('sign-out', 'sign-out-secret');

describe('sign-out', () => {
  it('a refresh-token session never sends its refresh token again after clear(): login_required, no request, no error event', async () => {
    const { server, client } = suite;
    const session = suite.track(
      createSession({
        provider: refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, refreshToken: server.issueRefreshToken(client.id) }),
        sharing: memorySharing(),
      }),
    );
    const errors: string[] = [];
    session.on('error', (error) => errors.push(error.code));
    await session.getToken();
    await session.clear();
    const outcomes = await Promise.all([session.getToken(), session.getToken({ forceRefresh: true })].map((call) => call.catch((error: SessionError) => error.code)));
    expect({ outcomes, requests: server.stats.tokenRequests, reuse: server.stats.refreshTokenReuse, errors }).toEqual({
      outcomes: ['login_required', 'login_required'],
      requests: 1,
      reuse: 0,
      errors: [],
    });
  });

  it('a client-credentials session authenticates again after clear() (its credentials are still at hand)', async () => {
    const { server, client } = suite;
    const session = suite.track(
      createSession({ provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }), sharing: memorySharing() }),
    );
    const before = await session.getToken();
    await session.clear();
    const after = await session.getToken();
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(server.stats.tokenRequests).toBe(2);
  });
});
