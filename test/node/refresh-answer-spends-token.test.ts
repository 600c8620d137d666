import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, refreshTokenGrant } from '../../src/index.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

/**
 * The rule: a refresh token the server answered 2xx is spent, whatever we think of the answer. An answer we refuse
 * (malformed, a bad lifetime, a header-breaking token) ends the grant with `invalid_grant`, and the token is never
 * sent again — by this session, by a session created again from the same token, or on a retry.
 */
let server: TokenServer;
beforeAll(async () => {
  server = await startTokenServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

const refused = [
  ['an expires_in below zero', JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: -1, refresh_token: 'next' })],
  ['no access_token', JSON.stringify({ token_type: 'Bearer', expires_in: 60, refresh_token: 'next' })],
  ['a CR/LF in the access token', JSON.stringify({ access_token: 'a\r\nb', token_type: 'Bearer', expires_in: 60, refresh_token: 'next' })],
  ['an HTML page', '<html>maintenance</html>'],
] as const;

for (const [what, body] of refused) {
  it(`a 2xx refresh answer with ${what}: invalid_grant, and the spent refresh token is never sent again`, async () => {
    const client = server.addClient(`client-${what.length}-${Math.random()}`);
    const initial = server.issueRefreshToken(client.id);
    const options = { tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, refreshToken: initial, attempts: 1 };
    const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
    server.respondNextWith(body);
    const first = await session.getToken().then(() => 'token', (error: unknown) => (isSessionError(error) ? error.code : String(error)));
    expect(first).toBe('invalid_grant');
    const sent = server.stats.tokenRequests;
    // Asked again, forced, and by a provider created again from the app's original token: nothing is sent.
    for (const again of [() => session.getToken(), () => session.getToken({ forceRefresh: true })]) {
      expect(await again().then(() => 'token', (error: unknown) => (isSessionError(error) ? error.code : String(error)))).toMatch(/^(invalid_grant|login_required)$/);
    }
    const recreated = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
    expect(await recreated.getToken().then(() => 'token', (error: unknown) => (isSessionError(error) ? error.code : String(error)))).toBe('invalid_grant');
    expect(server.stats.tokenRequests).toBe(sent);
    await Promise.all([session.close(), recreated.close()]);
  });
}

it('a good answer that does not rotate keeps the refresh token usable (a 2xx spends only until the answer is read)', async () => {
  const client = server.addClient(`client-keeps-${Math.random()}`);
  const initial = server.issueRefreshToken(client.id);
  const session = createSession({
    provider: refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, refreshToken: initial }),
    sharing: memorySharing(),
  });
  server.respondNextWith(JSON.stringify({ access_token: 'first', token_type: 'Bearer', expires_in: 3600 }));
  expect((await session.getToken()).accessToken).toBe('first');
  // The server kept the grant's token: the next refresh sends it (the server's own token response this time).
  expect((await session.getToken({ forceRefresh: true })).accessToken).not.toBe('first');
  await session.close();
});
