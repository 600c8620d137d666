import { expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { useRedisSessions } from '../support/redis-sessions.js';

// Redis names are a SHA-256 of the provider's credential key, which holds every request parameter and a digest of
// the client secret: credentials that differ in anything the token endpoint sees never share a token.

const env = useRedisSessions('keys');

it('two credentials that differ only in extraParams (e.g. `resource`) get one token each across processes', async () => {
  const clientId = env.clientId();
  const storage = await env.open('redis', clientId, {}, { extraParams: { resource: 'https://storage.example' } });
  const graph = await env.open('ioredis', clientId, {}, { extraParams: { resource: 'https://graph.example' } });
  const a = await storage.session.getToken();
  const b = await graph.session.getToken();
  // 2 token requests, 2 tokens (each for its own resource).
  expect({ keysDiffer: storage.key !== graph.key, sameToken: a.accessToken === b.accessToken, requests: env.tokens.stats.tokenRequests }).toEqual({
    keysDiffer: true,
    sameToken: false,
    requests: 2,
  });
  expect(storage.keys.token).not.toBe(graph.keys.token);
});

it('the same client id with a wrong secret does not get the token of the right one: invalid_client', async () => {
  const clientId = env.clientId();
  const right = await env.open('redis', clientId);
  const token = await right.session.getToken();
  // `open` registers `secret-of-<id>`; this process was configured with another.
  const wrong = await env.open('ioredis', clientId, {}, { clientSecret: 'revoked-secret' });
  env.tokens.addClient(clientId, `secret-of-${clientId}`);
  expect(wrong.keys.token).not.toBe(right.keys.token);
  const result = await wrong.session.getToken().catch((error: unknown) => error);
  expect(isSessionError(result, 'invalid_client')).toBe(true);
  expect((await right.session.getToken()).accessToken).toBe(token.accessToken);
  expect(env.tokens.stats.tokenRequests).toBe(2);
});
