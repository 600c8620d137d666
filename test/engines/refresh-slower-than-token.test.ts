import { afterAll, beforeAll, it } from 'vitest';
import { type Engine, launchEngine } from '../support/engines/index.js';
import { inApp, openApp, userSignsIn } from '../support/engines/oidc-app.js';
import { describeEngines, report } from '../support/engines/suite.js';
import { type OidcAppServer, startOidcApp } from '../support/oidc-app.js';

/**
 * A refresh answered later than its new token lives, in Firefox ESR and WebKitGTK, with DPoP and with Bearer: the
 * access token is dead on arrival and never handed out, but the refresh token the provider rotated to is the grant's
 * only one. Found by the leader-killed run (test/engines/dpop-leader-killed.test.ts) at load 30, where a refresh of a
 * 4 s token took longer than 4 s: the answer was refused whole (`invalid_response`), its refresh token lost, the spent
 * one refused next (`invalid_grant`) and every tab signed out, the tab that signed in first. Now the session asks once
 * more with the rotated refresh token: still signed in, served, 0 reused refresh tokens, 0 revoked grants.
 *
 * The provider holds the answer of one refresh longer than the token lives, after it has rotated (`responseLatency`),
 * and answers the next at once.
 */
const TOKEN_LIFETIME_S = 4;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeEngines(['firefox', 'webkit'] as const, (name) => {
  const state = {} as { engine: Engine };
  beforeAll(async () => {
    state.engine = await launchEngine(name);
  }, 90_000);
  afterAll(async () => {
    await state.engine?.close();
  }, 60_000);

  it.for([true, false])('dpop %s: a refresh answered after its token expired keeps the grant: signed in, served, no refresh token reused', { timeout: 150_000 }, async (dpop, { expect }) => {
    // A provider of its own per test: its login form comes up (another's session cookie means nothing to it).
    const app: OidcAppServer = await startOidcApp({ dpop, accessTokenTtl: TOKEN_LIFETIME_S });
    try {
      app.config = { ...app.config, dpop };
      const page = (await openApp(state.engine, app.appUrl)).page;
      expect(await userSignsIn(page, 'ada.lovelace')).toBe('ok');
      const call = (): Promise<number | string> => inApp(page, (harness) => harness.callApi().then((outcome) => ('status' in outcome ? outcome.status : outcome.error)));
      expect(await call()).toBe(200);

      // The next refresh (ahead of expiry, at half the lifetime) is answered 1.5 lifetimes after the provider rotated.
      const refreshes = (): number => app.op.log.filter((entry) => entry.event === 'grant.success' && entry.detail === 'refresh_token').length;
      const held = TOKEN_LIFETIME_S * 1_500;
      app.op.responseLatency = held;
      const deadline = Date.now() + 30_000;
      while (refreshes() === 0 && Date.now() < deadline) await sleep(20);
      expect(refreshes(), 'no refresh within 30 s').toBe(1);
      app.op.responseLatency = 0;
      // The held answer arrives dead; then the page calls the API until served (bounded).
      await sleep(held + 1_000);
      const refused: Array<number | string> = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        const outcome = await call();
        if (outcome === 200) break;
        refused.push(outcome);
        await sleep(500);
      }
      const log = await inApp(page, (harness) => harness.log.filter((entry) => !['authenticated', 'token', 'user-updated'].includes(entry.event)));
      report(name, `refresh slower than its token, dpop ${dpop}`, `refused ${JSON.stringify(refused)}, ${JSON.stringify(log)}; counts ${JSON.stringify(app.op.counts)}`);
      expect(await inApp(page, (harness) => harness.state().signedIn), JSON.stringify(log)).toBe(true);
      expect(refused, JSON.stringify(log)).toEqual([]);
      expect(log.map((entry) => entry.event)).not.toContain('signed-out');
      expect(app.op.counts).toMatchObject({ codeExchanges: 1, reusedRefreshTokens: 0, revokedGrants: 0, failedRefreshes: 0 });
      expect(app.op.counts.refreshRequests).toBeGreaterThanOrEqual(2);
      await page.close();
    } finally {
      await app.close();
    }
  });
});
