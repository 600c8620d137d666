import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, refreshTokenGrant } from '../../src/index.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule: a spent refresh token is sent at most once. A refresh request whose answer does not come in time may have
// been served (the server rotated the token and its answer is late or lost): the retry chain then sends the spent
// token again, and if the server stays slow, again on every attempt. Every transport inherits this (the Durable
// Object's lease holder runs the same provider).

let server: TokenServer;
beforeAll(async () => {
  server = await startTokenServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

it('a refresh token grant against a slow server (each answer later than the attempt timeout): at most one spent send', async () => {
  const client = server.addClient(`slow-${Math.random()}`);
  const refreshToken = server.issueRefreshToken(client.id);
  const provider = refreshTokenGrant({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, refreshToken, attempts: 4, backoff: 10, timeout: 150 });
  const session = createSession({ provider, sharing: memorySharing() });
  server.latency = 400; // the server serves every request, 400 ms late
  const outcome = await session.getToken().then(() => 'token', (error: unknown) => (isSessionError(error) ? error.code : String(error)));
  await new Promise((resolve) => setTimeout(resolve, 600)); // the last late request reaches the server's handler
  expect({ outcome, spentSends: server.stats.refreshTokenReuse }).toEqual({ outcome: expect.any(String), spentSends: expect.toBeOneOf([0, 1]) });
  await session.close();
});
