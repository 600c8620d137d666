import { describe, expect, it } from 'vitest';
import {
  clientCredentials,
  createSession,
  customProvider,
  isSessionError,
  memorySharing,
  type Session,
  type SessionError,
  type SharedLink,
  type Sharing,
  type Token,
} from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('expiry', 'expiry-secret');

function session(sharing: Sharing = memorySharing()): Session {
  const { server, client } = suite;
  return suite.track(
    createSession({ provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }), sharing }),
  );
}

const outcome = (promise: Promise<Token>): Promise<string> =>
  promise.then(
    (token) => `token ${token.accessToken}`,
    (error: SessionError) => `error ${error.code}`,
  );

/** A transport that hands the session whatever `serve` returns, as a broken or hostile one could. */
function scriptedSharing(serve: () => Token): Sharing {
  return {
    kind: 'scripted',
    connect: (): SharedLink => ({
      leading: false,
      load: () => Promise.resolve(undefined),
      obtain: () => Promise.resolve({ token: serve() }),
      clear: () => Promise.resolve(),
      close: () => Promise.resolve(),
    }),
  };
}

describe('never a token the clock calls expired', () => {
  // Was `invalid_response`: now `token_expired`. Without a grant to keep (client credentials) nothing is asked again;
  // a rotating grant's late answer is (test/node/late-answer-keeps-grant.test.ts).
  it('a token that expired before the endpoint answered is never handed out: token_expired after 1 request, reported once', async () => {
    suite.server.lifetime = 1;
    suite.server.latency = 1_200;
    const s = session();
    const errors: string[] = [];
    s.on('error', (error) => errors.push(error.code));
    expect(await outcome(s.getToken())).toBe('error token_expired');
    expect({ errors, requests: suite.server.stats.tokenRequests }).toEqual({ errors: ['token_expired'], requests: 1 });
  });

  it('a customProvider token that is already expired is refused the same way', async () => {
    let fetched = 0;
    const s = suite.track(
      createSession({
        provider: customProvider({ key: 'expired', fetchToken: async () => ({ accessToken: `old-${++fetched}`, tokenType: 'Bearer', issuedAt: 1, expiresAt: Date.now() - 1 }) }),
        sharing: memorySharing(),
      }),
    );
    expect(await outcome(s.getToken())).toBe('error token_expired');
    expect(fetched).toBe(1);
  });

  it('an expired token from a transport is never handed out: token_expired after one more try', async () => {
    let served = 0;
    const s = session(scriptedSharing(() => ({ accessToken: `dead-${++served}`, tokenType: 'Bearer', issuedAt: 1, expiresAt: Date.now() - 1_000 })));
    expect(await outcome(s.getToken())).toBe('error token_expired');
    expect(served).toBe(2);
  });

  it('a token from a transport with a future issuedAt is bounded by our clock (lifetime kept), so a real one replaces it', async () => {
    const now = Date.now();
    const forged = { accessToken: 'forged', tokenType: 'Bearer', issuedAt: now + 3_650 * 86_400_000, expiresAt: now + 3_650 * 86_400_000 + 60_000 };
    const s = session(scriptedSharing(() => forged));
    const token = await s.getToken();
    expect(token.accessToken).toBe('forged');
    expect(token.issuedAt).toBeLessThanOrEqual(Date.now());
    expect(token.expiresAt - token.issuedAt).toBe(60_000);
  });
});

describe('the one check on every read', () => {
  it('getToken never returns the token the caller reported as rejected, even when a transport brings it back', async () => {
    const s = session(scriptedSharing(() => ({ accessToken: 'same', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 60_000 })));
    await s.getToken();
    const error = await s.getToken({ rejected: 'same' }).catch((caught: unknown) => caught);
    expect(isSessionError(error, 'token_rejected')).toBe(true);
  });
});
