import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSession, memorySharing, refreshTokenGrant, type Sharing, type SharingPeer, type TokenSet } from '../../src/index.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { startProviderGrant } from '../support/provider-grant.js';

/**
 * A refresh token is never sent twice. A late answer's refresh token is sent at once (SessionCore.fetchToken's
 * retries); when the session is closed while that retry is in flight, its answer (a 2xx that spent it) is dropped.
 * The token set the transport is then given must not name that spent refresh token as the grant's newest: a
 * transport that shares across processes stores it (Deno KV: `ready`), and the next process sends it again — a
 * reuse that revokes the grant. As in the path without late answers, the abort must fail the fetch instead.
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const scope = 'openid offline_access api';
let op: OpenIdProvider;

beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
});
afterAll(() => op.close());
beforeEach(() => op.reset());

/** memorySharing, recording every token set the session hands the transport as the grant's newest. */
function recordingSharing(sets: TokenSet[], settled: Promise<unknown>[]): Sharing {
  return {
    kind: 'recording',
    connect(peer: SharingPeer) {
      const wrapped: SharingPeer = {
        key: peer.key,
        usesRefreshToken: peer.usesRefreshToken,
        initialRefreshTokenDigest: peer.initialRefreshTokenDigest,
        signsIn: peer.signsIn,
        clock: peer.clock,
        isUsable: (token, rejected) => peer.isUsable(token, rejected),
        fetchToken: (...args) => {
          const fetched = peer.fetchToken(...args).then((set) => {
            sets.push(set);
            return set;
          });
          settled.push(fetched.catch(() => undefined));
          return fetched;
        },
        receiveToken: (token) => peer.receiveToken(token),
        receiveClear: (at) => peer.receiveClear(at),
        leadershipChanged: (leading) => peer.leadershipChanged(leading),
        report: (error) => peer.report(error),
      };
      return memorySharing().connect(wrapped);
    },
  };
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !condition(); ) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a session closed during a late answer\'s retry', () => {
  it('gives the transport no spent refresh token: the next holder of the grant reuses none', async () => {
    const grant = await startProviderGrant(op, { clientId: 'web', redirectUri, scope });
    const sets: TokenSet[] = [];
    const settled: Promise<unknown>[] = [];
    const session = createSession({ provider: refreshTokenGrant({ tokenUrl: grant.tokenUrl, clientId: 'web', refreshToken: grant.refreshToken }), sharing: recordingSharing(sets, settled) });
    // The first answer late (its refresh token is sent at once); the retry's answer slow, and closed under it.
    op.planTokenAnswers([{ ttl: 1, delay: 1_500 }, { ttl: 60, delay: 1_500 }]);
    const call = session.getToken().catch((error: unknown) => error);
    await until(() => op.counts.refreshRequests >= 2);
    await session.close();
    await call;
    await Promise.all(settled);
    // The retry's answer has come (and spent what it carried).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // Another process continues the grant from what the transport was given (as Deno KV's next holder would).
    for (const set of sets) {
      if (set.refreshToken === undefined) continue;
      const next = createSession({ provider: refreshTokenGrant({ tokenUrl: grant.tokenUrl, clientId: 'web', refreshToken: set.refreshToken }), sharing: memorySharing() });
      await next.getToken().catch(() => undefined);
      await next.close();
    }
    expect(op.counts).toMatchObject({ reusedRefreshTokens: 0, revokedGrants: 0 });
  }, 30_000);
});
