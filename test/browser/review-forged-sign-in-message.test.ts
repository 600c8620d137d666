import { expect, it } from 'vitest';
import { hashKey } from '../../src/core/digest.js';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * Review (issue 23, a hostile page of the same origin): the sign-in channel (`shared-session-oidc-v1:<digest>`) is a
 * hint, never the truth. A forged `signed-in` message must not make a signed-out tab say it is signed in as someone,
 * and one with a far-future `signedInAt` must not hide the real user who signs in afterwards.
 */
const env = useOidcApp();

it('a forged signed-in message: no tab says "signed in as admin"; a real sign-in afterwards shows the real user everywhere', async () => {
  const context = await env.browser.newContext();
  const [victim, hostile, signer] = await openApps(context, env.appUrl, 3);
  const key = await inApp(victim!, (app) => app.session.key);
  const name = `shared-session-oidc-v1:${hashKey(key)}`;
  await hostile!.evaluate(
    ({ channelName, credential }) => {
      const channel = new BroadcastChannel(channelName);
      channel.postMessage({ v: 1, key: credential, type: 'signed-in', user: { claims: { sub: 'admin', name: 'Administrator' } }, signedInAt: 8.64e15 });
    },
    { channelName: name, credential: key },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  const forged = await inApp(victim!, (app) => app.state());
  expect({ signedIn: forged.signedIn, user: forged.user }).toEqual({ signedIn: false, user: undefined });

  // The real user signs in in another tab: every tab shows her, not the forged one.
  expect(await userSignsIn(signer!)).toBe('ok');
  await expect.poll(() => inApp(victim!, (app) => app.state().user?.sub), { timeout: 5_000 }).toBe('ada.lovelace');
  await context.close();
});
