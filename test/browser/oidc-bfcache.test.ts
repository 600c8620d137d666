import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

// The sign-in's own channel (`signed-in`, popup results) must not evict a page from the back/forward cache either:
// Chromium evicts a cached page as soon as a message arrives on one of its BroadcastChannels. Launched without
// playwright's `--disable-back-forward-cache`, and the app page served cacheable (see `AppConfig.cacheable`).
const env = useOidcApp({}, { ignoreDefaultArgs: ['--disable-back-forward-cache'] });

it('a signed-in tab cached while another signs out and in again is restored, not evicted, and signed in as the new user: 0 requests of its own', async () => {
  env.config = { ...env.config, cacheable: true };
  const context = await env.browser.newContext();
  const [signing, kept] = await openApps(context, env.appUrl, 2);
  expect(await userSignsIn(signing!)).toBe('ok');
  await kept!.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  const cdp = await context.newCDPSession(kept!);
  await cdp.send('Page.enable');
  const notRestored: string[] = [];
  cdp.on('Page.backForwardCacheNotUsed', (event) => notRestored.push(...event.notRestoredExplanations.map((entry) => entry.reason)));
  await kept!.evaluate(() => {
    const state = globalThis as unknown as { shows: boolean[] };
    state.shows = [];
    addEventListener('pageshow', (event) => state.shows.push(event.persisted));
  });

  await kept!.goto(`${env.origin}/signed-out.html`);
  // Both channels carry messages meanwhile: `clear`, then `signed-in` and the new grant's token.
  expect(await inApp(signing!, (app) => app.signOut(false))).toBe('ok');
  expect(await userSignsIn(signing!, 'grace.hopper', { anotherUser: true })).toBe('ok');
  const token = await inApp(signing!, (app) => app.token());
  const requests = { ...env.op.counts };

  await kept!.goBack({ waitUntil: 'commit' });
  await kept!.waitForFunction(() => 'app' in globalThis);
  expect(notRestored).toEqual([]);
  expect(await kept!.evaluate(() => (globalThis as unknown as { shows?: boolean[] }).shows)).toEqual([true]);
  expect(await inApp(kept!, (app) => app.token())).toBe(token);
  await expect.poll(() => inApp(kept!, (app) => app.state().user), { timeout: 3000 }).toMatchObject({ sub: 'grace.hopper' });
  expect(env.op.counts).toEqual(requests);
  await context.close();
});
