import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing } from '../../src/index.js';
import type { TokenSet } from '../../src/core/token.js';
import type { FetchTokenContext, TokenProvider } from '../../src/providers/provider.js';

/**
 * The late-answer rule over random lifetimes and delays (late-answer-keeps-grant.test.ts proves it against the real
 * provider): a rotating grant whose server revokes the grant at the first reused refresh token, answers whose delay
 * may outlast their token's lifetime, on a clock the provider moves. Whatever the sequence: no expired token handed
 * out, no refresh token sent twice (the grant never revoked), at most 3 requests per call, and a call that fails is
 * `token_expired` with the grant kept (the next timely answer is handed out).
 */
it('random lifetimes and delays: never an expired token, never a reused refresh token, at most 3 requests per call', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ lifetime: fc.integer({ min: 1, max: 10_000 }), delay: fc.integer({ min: 0, max: 20_000 }) }), { minLength: 1, maxLength: 12 }),
      async (answers) => {
        let now = 1_000_000;
        const clock = { now: () => now };
        const spent = new Set<string>();
        let current = 'rt-0';
        let revoked = false;
        let requests = 0;
        let answered = 0;
        const provider: TokenProvider = {
          key: `late-${Math.random()}`,
          canRefresh: true,
          usesRefreshToken: true,
          async fetchToken(context: FetchTokenContext): Promise<TokenSet> {
            const sent = context.refreshToken ?? 'rt-0';
            requests++;
            if (spent.has(sent) || sent !== current) revoked = true;
            if (revoked) throw Object.assign(new Error('revoked'), { name: 'SessionError', code: 'invalid_grant' });
            spent.add(sent);
            current = `rt-${++answered}`;
            const { lifetime, delay } = answers[(answered - 1) % answers.length]!;
            const sentAt = now;
            now += delay;
            await Promise.resolve();
            return { token: { accessToken: `at-${answered}`, tokenType: 'Bearer', issuedAt: sentAt, expiresAt: sentAt + lifetime }, refreshToken: current };
          },
        };
        const session = createSession({ provider, sharing: memorySharing(), clock, refreshBeforeExpiry: 0 });
        try {
          for (let call = 0; call < answers.length; call++) {
            const before = requests;
            const outcome = await session.getToken({ forceRefresh: true }).then(
              (token) => ({ token }),
              (error: unknown) => ({ error }),
            );
            expect(requests - before).toBeLessThanOrEqual(3);
            if ('token' in outcome) expect(outcome.token.expiresAt).toBeGreaterThan(now);
            else expect(isSessionError(outcome.error, 'token_expired'), String(outcome.error)).toBe(true);
            expect(revoked).toBe(false);
          }
        } finally {
          await session.close();
        }
      },
    ),
    { numRuns: 200 },
  );
});
