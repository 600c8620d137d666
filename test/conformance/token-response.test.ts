import { describe, expect, it } from 'vitest';
import { refreshCases, tokenResponseCases } from './cases/token-response.js';
import { expectSignedIn, expectSignInRefused, title } from './support/expectations.js';
import { useConformance } from './support/relying-parties.js';

/**
 * Token responses of the code exchange and of refreshes, bent one way per case, in real Chromium. A refused refresh
 * answered 2xx spent its refresh token: `invalid_grant` (with the reason as its cause), signed out everywhere, the
 * token never sent again (the provider counts reuse), its access token never handed out.
 */
const env = useConformance();

describe.concurrent('token response of the code exchange', () => {
  for (const test of tokenResponseCases) {
    it(title(test), async () => {
      const outcome = await env.signIn(test.id, test.defect, test.rp);
      if (test.refused !== undefined) await expectSignInRefused(env, test.id, outcome, test.refused);
      else expectSignedIn(env, test.id, outcome);
    });
  }
});

describe.concurrent('refresh response', () => {
  for (const test of refreshCases) {
    it(title(test), async () => {
      const { id } = test;
      // A correct sign-in; the defect is only in refreshes.
      expectSignedIn(env, id, await env.signIn(id, test.defect, test.rp));
      const first = await env.inRp(id, (rp) => rp.refresh());
      const counts = env.op.counts(id);
      if (test.refused !== undefined) {
        // The grant is over (`invalid_grant` signs every context out); why the answer was refused is its cause.
        expect(first.code, JSON.stringify(first)).toBe('invalid_grant');
        expect(test.refused, JSON.stringify(first)).toContain(first.cause ?? first.code);
        // Asked again, twice: the spent refresh token is never sent again, and nobody is signed in.
        expect(await env.inRp(id, (rp) => rp.token({ forceRefresh: true }))).toBe('error:login_required');
        expect(await env.inRp(id, (rp) => rp.token())).toBe('error:login_required');
        expect(await env.inRp(id, (rp) => rp.state().signedIn)).toBe(false);
        expect(counts).toMatchObject({ refreshRequests: 1, reusedRefreshTokens: 0 });
        return;
      }
      expect(first.token).toBe(counts.accessTokens.at(-1));
      // A second refresh sends the newest refresh token (or the unrotated one): no reuse.
      const second = await env.inRp(id, (rp) => rp.token({ forceRefresh: true }));
      expect(second).toBe(counts.accessTokens.at(-1));
      expect(counts).toMatchObject({ refreshRequests: 2, reusedRefreshTokens: 0 });
      expect(await env.inRp(id, (rp) => rp.state())).toMatchObject({ signedIn: true, user: { sub: 'alice' } });
    });
  }
});

it('refresh-unavailable: a 503 spent nothing (no answer to the grant): endpoint_unavailable, still signed in, the same refresh token accepted next time', async () => {
  const id = 'refresh-unavailable';
  let failures = 1;
  const defect = {
    refresh: (answer: { status: number; body: unknown }) =>
      failures-- > 0 ? { status: 503, body: { error: 'temporarily_unavailable' } } : answer,
  };
  expectSignedIn(env, id, await env.signIn(id, defect));
  const failed = await env.inRp(id, (rp) => rp.refresh());
  expect(failed.code).toBe('endpoint_unavailable');
  expect(await env.inRp(id, (rp) => rp.state().signedIn)).toBe(true);
  const next = await env.inRp(id, (rp) => rp.refresh());
  expect(next.token).toBe(env.op.counts(id).accessTokens.at(-1));
  expect(env.op.counts(id)).toMatchObject({ refreshRequests: 2, reusedRefreshTokens: 0 });
});
