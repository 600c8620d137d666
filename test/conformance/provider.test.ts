import { describe, expect, it } from 'vitest';
import { authorizationResponseCases, discoveryCases } from './cases/provider.js';
import { expectSignedIn, expectSignInRefused, title } from './support/expectations.js';
import { useConformance } from './support/relying-parties.js';

/**
 * Discovery and authorization-response defects (Config RP of the RP certification plan, RFC 9207, RFC 9700, OAuth
 * for Browser-Based Apps), the sign-out, and the cases that take more than one sign-in: key rotation, a stalled or
 * failing discovery that must not be cached, a replayed callback.
 */
const env = useConformance();

/** Time for script that a hostile endpoint would run to post its message. */
const SCRIPT_GRACE = 300;

describe.concurrent('discovery', () => {
  for (const test of discoveryCases) {
    it(title(test), async () => {
      const outcome = await env.signIn(test.id, test.defect, test.rp, 10_000);
      // Refused before the page left: the provider saw no authorization request.
      expect(outcome.phase).toBe('sign-in-failed');
      await expectSignInRefused(env, test.id, outcome, test.refused!);
      await new Promise((resolve) => setTimeout(resolve, SCRIPT_GRACE));
      expect((await env.outcomes(test.id)).map((entry) => entry.phase)).toEqual(['sign-in-failed']);
      expect(env.op.counts(test.id)).toMatchObject({ authorizations: 0, codeExchanges: 0 });
    });
  }

  it('discovery-stalled: refused (timeout) within the timeout, and not cached: the next sign-in discovers again and succeeds', async () => {
    const id = 'discovery-stalled';
    const started = Date.now();
    const outcome = await env.signIn(id, { discovery: () => 'stall' }, { timeout: 1500 });
    await expectSignInRefused(env, id, outcome, ['timeout']);
    // Bounded by `timeout` (plus a page load); a hang would end at the harness's 15 s.
    expect(Date.now() - started).toBeLessThan(10_000);
    env.op.configure(id, {});
    expectSignedIn(env, id, await env.load(id));
    // Asked again: the stalled discovery was not kept.
    expect(env.op.counts(id).discoveries).toBe(2);
  });

  it('discovery-unavailable: refused (endpoint_unavailable) on a 503, and not cached: the next sign-in succeeds', async () => {
    const id = 'discovery-unavailable';
    const outcome = await env.signIn(id, { discovery: () => ({ status: 503, body: 'maintenance', contentType: 'text/plain' }) });
    await expectSignInRefused(env, id, outcome, ['endpoint_unavailable']);
    env.op.configure(id, {});
    expectSignedIn(env, id, await env.load(id));
  });
});

describe.concurrent('authorization response', () => {
  for (const test of authorizationResponseCases) {
    it(title(test), async () => {
      const outcome = await env.signIn(test.id, test.defect, test.rp);
      if (test.refused === undefined) {
        expectSignedIn(env, test.id, outcome);
        return;
      }
      await expectSignInRefused(env, test.id, outcome, test.refused);
      // Refused before the code was sent (an unknown code is the provider's to refuse).
      expect(env.op.counts(test.id).codeExchanges).toBe(0);
    });
  }

  it('rp-response-state-absent: not a callback of this session (RFC 6749 §10.12): never signed in, the code never sent', async () => {
    const id = 'rp-response-state-absent';
    const outcome = await env.signIn(id, { authorize: (response) => (response.delete('state'), response) });
    expect(outcome).toMatchObject({ phase: 'ready', signedIn: false, token: 'error:login_required' });
    expect(env.op.counts(id)).toMatchObject({ authorizations: 1, codeExchanges: 0, failedCodeExchanges: 0 });
  });

  it('rfc9700-code-replay: a callback opened again is invalid_state and its code is never sent twice', async () => {
    const id = 'rfc9700-code-replay';
    const outcome = await env.signIn(id);
    expectSignedIn(env, id, outcome);
    const [callback] = env.op.counts(id).callbacks;
    const replay = await env.load(id, new URL(callback!).search.slice(1));
    // Still signed in (the sign-in was this browser's), but the replay completes nothing.
    expect(replay).toMatchObject({ phase: 'ready', ready: 'invalid_state' });
    expect(env.op.counts(id)).toMatchObject({ codeExchanges: 1, failedCodeExchanges: 0 });
  });
});

describe.concurrent('several sign-ins', () => {
  it('rp-key-rotation-op-sign-key: accepted (both ID tokens, the second signed with a new key); state, nonce and PKCE fresh each time (Browser-Based Apps BCP §6.1)', async () => {
    const id = 'rp-key-rotation-op-sign-key';
    expectSignedIn(env, id, await env.signIn(id, { rotateKeysAfterFirstSignIn: true }));
    expect(await env.inRp(id, (rp) => rp.signOut(false))).toBe('ok');
    const again = await env.load(id);
    expect(again).toMatchObject({ phase: 'ready', ready: 'ok', signedIn: true, errors: [] });
    const counts = env.op.counts(id);
    expect(counts).toMatchObject({ codeExchanges: 2, reusedRefreshTokens: 0, revocations: 1 });
    const [first, second] = counts.authorizeRequests as [Record<string, string>, Record<string, string>];
    for (const request of [first, second]) {
      expect(request).toMatchObject({ response_type: 'code', code_challenge_method: 'S256', client_id: 'conformance-rp' });
      expect(request.code_challenge).toMatch(/^[\w-]{43}$/);
      expect(request.state!.length).toBeGreaterThanOrEqual(22);
      expect(request.nonce!.length).toBeGreaterThanOrEqual(22);
      expect(Object.keys(request)).not.toContain('client_secret');
    }
    for (const parameter of ['state', 'nonce', 'code_challenge']) expect(second[parameter]).not.toBe(first[parameter]);
  });

  // The test's own `expect`: in a concurrent describe, the global one's `poll` may not know which test it is in.
  it('rp-init-logout: the refresh token revoked, the end-session request with id_token_hint and post_logout_redirect_uri; signed out', async ({ expect }) => {
    const id = 'rp-init-logout';
    expectSignedIn(env, id, await env.signIn(id));
    // The sign-in left its outcome; the page that comes back after the end-session redirect posts one more.
    const outcomesBefore = (await env.outcomes(id)).length;
    void env.inRp(id, (rp) => rp.signOut(true)).catch(() => undefined);
    await expect.poll(() => env.op.counts(id).endSessions, { timeout: 10_000 }).toBe(1);
    const counts = env.op.counts(id);
    expect(counts.revocations).toBe(1);
    expect(counts.endSessionRequests[0]).toMatchObject({ client_id: 'conformance-rp', post_logout_redirect_uri: expect.stringContaining('/rp/rp-init-logout') });
    expect(counts.endSessionRequests[0]!.id_token_hint).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    // Back on the app: signed out.
    await expect.poll(async () => (await env.outcomes(id)).length, { timeout: 10_000 }).toBeGreaterThan(outcomesBefore);
    expect(await env.inRp(id, (rp) => rp.state().signedIn)).toBe(false);
  });

  it('sign-out-revocation-failing: signed out all the same, the failure reported (error event), the refresh token never sent again', async () => {
    const id = 'sign-out-revocation-failing';
    expectSignedIn(env, id, await env.signIn(id, { revoke: () => ({ status: 503, body: { error: 'temporarily_unavailable' } }) }));
    expect(await env.inRp(id, (rp) => rp.signOut(false))).toBe('ok');
    expect(await env.inRp(id, (rp) => rp.state().signedIn)).toBe(false);
    expect(await env.inRp(id, (rp) => rp.errors.length)).toBeGreaterThan(0);
    expect(await env.inRp(id, (rp) => rp.token({ forceRefresh: true }))).toBe('error:login_required');
    expect(env.op.counts(id)).toMatchObject({ revocations: 1, refreshRequests: 0 });
  });
});
