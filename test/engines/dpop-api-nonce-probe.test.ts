import { afterAll, beforeAll, it } from 'vitest';
import { type Engine, type EnginePage, launchEngine } from '../support/engines/index.js';
import { inApp, openApp, openApps, until, userSignsIn } from '../support/engines/oidc-app.js';
import { type OidcAppServer, startOidcApp } from '../support/oidc-app.js';
import { describeEngines } from '../support/engines/suite.js';

/**
 * Issue 25's "a nonce challenge answered once for all contexts", in Firefox ESR and WebKitGTK (Chromium, with a
 * dedicated worker and the service worker too: test/browser/dpop-api-nonce-probe.test.ts): tabs signed in with DPoP
 * call an API that asks for a nonce, all at once, through `fetchWithToken`; the first call probes (a Web Lock per
 * API origin) and the others sign with the nonce it kept (IndexedDB): 1 challenge, every call accepted.
 */
const TABS = 4;

describeEngines(['firefox', 'webkit'] as const, (name) => {
  const state = {} as { engine: Engine; app: OidcAppServer };
  beforeAll(async () => {
    [state.app, state.engine] = await Promise.all([startOidcApp({ dpop: true }), launchEngine(name)]);
  }, 90_000);
  afterAll(async () => {
    await state.engine?.close();
    await state.app?.close();
  }, 60_000);

  it(`${TABS} tabs call an API that asks for a nonce, at once: 1 challenge for all, every call accepted`, async ({ expect }) => {
    const { app, engine } = state;
    app.reset();
    app.config = { ...app.config, dpop: true };
    const first = await openApp(engine, app.appUrl);
    expect(first.ready).toBe('ok');
    expect(await userSignsIn(first.page, 'ada.lovelace')).toBe('ok');
    const tabs: EnginePage[] = [first.page];
    for (const opened of await openApps(engine, app.appUrl, TABS - 1)) {
      expect(opened.ready).toBe('ok');
      tabs.push(opened.page);
    }
    for (const tab of tabs) await until(tab, 'globalThis.app.session.signedIn');
    app.op.apiNonce = true;
    const statuses = await Promise.all(tabs.map((tab) => inApp(tab, (harness) => harness.fetchApi())));
    expect(statuses).toEqual(tabs.map(() => 200));
    expect(app.op.counts).toMatchObject({ apiNonceChallenges: 1, failedApiCalls: 0, replayedProofs: 0 });
  }, 180_000);
});
