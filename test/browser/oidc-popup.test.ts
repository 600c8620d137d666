import { expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { fillLoginForm, inApp, openApps, useOidcApp } from '../support/oidc-app.js';

const env = useOidcApp();

it('popup sign-in: the opener stays on its page, every tab is signed in, 1 code exchange', async () => {
  const context = await env.browser.newContext();
  const [opener, other] = await openApps(context, env.appUrl, 2);
  const opened = context.waitForEvent('page');
  await opener!.click('#sign-in-popup');
  const popup = await opened;
  await fillLoginForm(popup, 'grace.hopper');
  // The popup's callback completes the sign-in, tells the opener by state, and closes itself.
  await popup.waitForEvent('close', { timeout: 15_000 });
  expect(await inApp(opener!, (app) => app.popupResult())).toBe('ok');
  expect(await inApp(opener!, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'grace.hopper' }, url: env.appUrl });
  await other!.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  expect(await inApp(opener!, (app) => app.callApi())).toMatchObject({ status: 200 });
  expect(await inApp(other!, (app) => app.callApi())).toMatchObject({ status: 200 });
  expect(env.op.counts).toMatchObject({ authorizations: 1, codeExchanges: 1 });
  await context.close();
});

it('a popup the user closes rejects at once with popup_closed; its callback can no longer complete', async () => {
  const context = await env.browser.newContext();
  const [opener] = await openApps(context, env.appUrl, 1);
  const opened = context.waitForEvent('page');
  await opener!.click('#sign-in-popup');
  const popup = await opened;
  await popup.waitForSelector('input[name="login"]');
  const closedAt = Date.now();
  await popup.close();
  expect(await inApp(opener!, (app) => app.popupResult())).toBe('popup_closed');
  // A poll every 200 ms and a 400 ms grace for a result in flight; bounded generously for a loaded machine.
  expect(Date.now() - closedAt).toBeLessThan(3_000);
  expect(await inApp(opener!, (app) => app.state().signedIn)).toBe(false);
  expect(env.op.counts.codeExchanges).toBe(0);
  // Its transaction is gone: a callback of that sign-in arriving later would find none (invalid_state).
  expect(await opener!.evaluate(pendingTransactions)).toBe(0);
  await context.close();
});

it('a popup the browser blocks (no user gesture) rejects with popup_blocked, and nothing is sent', async () => {
  // playwright turns Chromium's popup blocker off (--disable-popup-blocking): a browser with it on, as users have.
  const browser = await launchChromium([], { ignoreDefaultArgs: ['--disable-popup-blocking'] });
  const context = await browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  // playwright's evaluate counts as a user gesture; a first window.open consumes it, as a popup does, so the
  // sign-in's window.open comes without one and Chromium's popup blocker refuses it. Bounded: a popup that did
  // open would keep the sign-in waiting.
  const outcome = await inApp(page!, (app) => {
    window.open('about:blank', 'gesture-consumer')?.close();
    return Promise.race([app.signInCode({ popup: true }), new Promise<string>((resolve) => setTimeout(resolve, 10_000, 'popup opened'))]);
  });
  expect(outcome).toBe('popup_blocked');
  // Nothing went to the provider (the gesture's own about:blank window aside).
  expect(context.pages().filter((opened) => opened.url().startsWith(env.op.issuer))).toEqual([]);
  expect(env.op.counts.authorizations).toBe(0);
  await browser.close();
});

it('the user cancels at the provider in the popup: the opener gets access_denied', async () => {
  const context = await env.browser.newContext();
  const [opener] = await openApps(context, env.appUrl, 1);
  const opened = context.waitForEvent('page');
  await opener!.click('#sign-in-popup');
  const popup = await opened;
  await popup.waitForSelector('#sign-in-deny');
  await popup.click('#sign-in-deny');
  await popup.waitForEvent('close', { timeout: 15_000 });
  expect(await inApp(opener!, (app) => app.popupResult())).toBe('access_denied');
  expect(await inApp(opener!, (app) => app.state().signedIn)).toBe(false);
  expect(env.op.counts).toMatchObject({ codeExchanges: 0, authorizationErrors: 1 });
  await context.close();
});

/** How many sign-in transactions IndexedDB holds (runs in the page). */
function pendingTransactions(): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('shared-session-oidc-v1');
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const count = request.result.transaction('transactions').objectStore('transactions').count();
      count.onsuccess = () => {
        request.result.close();
        resolve(count.result);
      };
    };
  });
}

it('under Cross-Origin-Opener-Policy: same-origin the popup sign-in completes (the result comes by state, not window.opener)', async () => {
  env.config = { ...env.config, coop: true };
  const context = await env.browser.newContext();
  const [opener, other] = await openApps(context, env.appUrl, 2);
  const opened = context.waitForEvent('page');
  await opener!.click('#sign-in-popup');
  const popup = await opened;
  await popup.waitForSelector('input[name="login"]');
  // The opener's handle of the popup reads `closed` from here on (COOP cut it off): a user who takes their time
  // must not be told popup_closed (the wait for a closed popup is 0.6 s).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await fillLoginForm(popup, 'grace.hopper');
  await popup.waitForEvent('close', { timeout: 15_000 });
  expect(await inApp(opener!, (app) => app.popupResult())).toBe('ok');
  await other!.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  expect(env.op.counts).toMatchObject({ codeExchanges: 1 });
  await context.close();
});
