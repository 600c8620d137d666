import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp, waitForApp } from '../support/oidc-app.js';

/**
 * Review (issue 23, "one sign-in outcome per page", a framework app in two tabs): two sign-ins of two users complete
 * their callbacks in two tabs at the same moment. Whichever wins, every tab must end showing the user whose token it
 * holds, one code exchange per callback, no refresh token reused.
 */
const env = useOidcApp();

/** The user signs in in `page` as `login`, but the trip back to the app is stopped: the unused callback URL. */
async function heldCallback(page: Page, login: string, anotherUser: boolean): Promise<string> {
  env.config = { ...env.config, holdCallbacks: true };
  if (anotherUser) void inApp(page, (app) => app.signInCode({ authorizationParams: { prompt: 'login' } })).catch(() => undefined);
  else await page.click('#sign-in');
  await fillLoginForm(page, login);
  await page.waitForURL((url) => url.pathname === '/app.html' && url.searchParams.has('code'));
  env.config = { ...env.config, holdCallbacks: false };
  const url = page.url();
  await page.goto(env.appUrl);
  await waitForApp(page);
  return url;
}

for (const latency of [0, 800]) {
  it(`two callbacks of two users completed at once in two tabs (token latency ${latency} ms): every tab agrees, and with the token it holds`, async () => {
    const context = await env.browser.newContext();
    const [first, second, watcher] = await openApps(context, env.appUrl, 3);
    const ada = await heldCallback(first!, 'ada.lovelace', false);
    const grace = await heldCallback(second!, 'grace.hopper', true);
    env.op.tokenLatency = latency;
    await Promise.all([first!.goto(ada), second!.goto(grace)]);
    const readies = await Promise.all([first!, second!].map((tab) => waitForApp(tab)));
    env.op.tokenLatency = 0;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const tabs = [first!, second!, watcher!];
    const states = await Promise.all(tabs.map((tab) => inApp(tab, (app) => ({ signedIn: app.state().signedIn, sub: app.state().user?.sub }))));
    const tokens = await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.token())));
    const subs = await Promise.all(tokens.map(async (token) => (token.startsWith('error:') ? token : ((await env.op.introspect(token)) as { sub?: string }).sub)));
    const summary = JSON.stringify({ readies, states, subs });
    for (let index = 0; index < tabs.length; index++) {
      expect(states[index]!.signedIn ? states[index]!.sub : 'error:login_required', summary).toBe(subs[index]);
    }
    expect(new Set(subs).size, summary).toBe(1);
    expect(env.op.counts).toMatchObject({ codeExchanges: 2, reusedRefreshTokens: 0, revokedGrants: 0 });
    await context.close();
  }, 90_000);
}
