import { expect, it } from 'vitest';
import { createSession, memorySharing, refreshTokenGrant } from '../../src/index.js';
import { startTokenServer } from '../support/token-server.js';

// Not fixed (design): an attempt of a refresh-token request that times out is retried with the same refresh token,
// though the first one reached the server and may have rotated it. Here the server answers after 2 s, the attempt
// timeout is 1 s: the retry sends the rotated-away token (observed: 3 reuses — every retry of the default 4 attempts — then `invalid_grant`, signed out). The same happens
// without any slow server to a `localSharing` leader SIGSTOPped longer than the 10 s attempt timeout during its
// refresh: when it wakes, the timer fires before the answer waiting in its socket is read (observed while writing
// test/local/review-silent-rotation.test.ts: 2 token requests, 1 reuse). README: "a refresh token is never sent twice".
it('a refresh attempt that timed out is not retried with the same refresh token', async () => {
  const tokens = await startTokenServer();
  try {
    const { id, secret } = tokens.addClient('review-timeout-resend');
    const refreshToken = tokens.issueRefreshToken(id);
    tokens.latency = 2_000;
    const session = createSession({
      provider: refreshTokenGrant({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, refreshToken, timeout: 1_000, backoff: 10 }), // attempts: 4 (default)
      sharing: memorySharing(),
    });
    await session.getToken().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await session.close();
    expect(tokens.stats.refreshTokenReuse).toBe(0);
  } finally {
    await tokens.close();
  }
}, 30_000);
