import { describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

/*
 * `getToken({ minValidity })` asks for a token that stays valid that long. When the endpoint issues no longer tokens
 * (minValidity at or above their lifetime), a second request cannot bring a better one: the call gets the token it
 * caused to be requested, after one request, never two.
 */
const suite = useTokenServer('min-validity-app');

function session(): Session {
  const { tokenUrl } = suite.server;
  const { id, secret } = suite.client;
  return suite.track(createSession({ provider: clientCredentials({ tokenUrl, clientId: id, clientSecret: secret }), sharing: memorySharing() }));
}

describe('getToken({ minValidity }) beyond what the endpoint issues', () => {
  for (const minValidity of [60_000, 61_000, 3_600_000]) {
    it(`minValidity ${minValidity} ms with 60 s tokens: one token request per call, a fresh token each time`, async () => {
      suite.server.lifetime = 60;
      const s = session();
      const tokens = [];
      for (let call = 1; call <= 3; call++) {
        tokens.push(await s.getToken({ minValidity }));
        expect(suite.server.stats.tokenRequests).toBe(call);
      }
      expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(3);
      for (const token of tokens) expect(token.expiresAt - Date.now()).toBeGreaterThan(50_000);
    });
  }

  it('concurrent calls with such a minValidity share one request', async () => {
    suite.server.lifetime = 60;
    const s = session();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => s.getToken({ minValidity: 120_000 })));
    expect(suite.server.stats.tokenRequests).toBe(1);
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
  });

  it('control: a minValidity the cached token cannot meet but a new one can still costs one request', async () => {
    suite.server.lifetime = 3600;
    const s = session();
    const first = await s.getToken();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The cached token has less than 3 599 800 ms left; a new one has 3 600 000.
    const second = await s.getToken({ minValidity: 3_599_900 });
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(suite.server.stats.tokenRequests).toBe(2);
  });
});
