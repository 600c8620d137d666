import { expect, it } from 'vitest';
import { hashKey } from '../../src/core/digest.js';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * Review (issue 23, a hostile page of the same origin, or a record left by a clock set years ahead): a record of who
 * signed in with a far-future `signedInAt` in the sign-in's IndexedDB. A real sign-in is the truth: it replaces any
 * record, so every tab — and a tab opened later — shows the user whose token it holds, never the stale one.
 */
const env = useOidcApp();

it('a forged user record dated in the future: after a real sign-in every tab, and a later one, shows the real user', async () => {
  const context = await env.browser.newContext();
  const [signer, other] = await openApps(context, env.appUrl, 2);
  const key = await inApp(signer!, (app) => app.session.key);
  await signer!.evaluate(
    ({ credential, id }) =>
      new Promise<void>((resolve, reject) => {
        const opening = indexedDB.open('shared-session-oidc-v1');
        opening.onerror = () => reject(opening.error);
        opening.onsuccess = () => {
          const transaction = opening.result.transaction('users', 'readwrite');
          transaction.objectStore('users').put({ v: 1, key: credential, user: { claims: { sub: 'admin', name: 'Administrator' } }, signedInAt: 8.64e15 }, id);
          transaction.oncomplete = () => {
            opening.result.close();
            resolve();
          };
        };
      }),
    { credential: key, id: hashKey(key) },
  );
  expect(await userSignsIn(signer!)).toBe('ok');
  const [late] = await openApps(context, env.appUrl, 1);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const shown = await Promise.all([signer!, other!, late!].map((tab) => inApp(tab, (app) => app.state().user?.sub ?? 'signed out')));
  // Observed: the tab that signed in shows ada.lovelace; the others 'Administrator' (admin) or signed out.
  expect(shown).toEqual(['ada.lovelace', 'ada.lovelace', 'ada.lovelace']);
  // A sign-out deletes it: a tab opened afterwards is signed out.
  expect(await inApp(signer!, (app) => app.signOut(false))).toBe('ok');
  const [after] = await openApps(context, env.appUrl, 1);
  expect(await inApp(after!, (app) => app.state())).toMatchObject({ signedIn: false });
  await context.close();
}, 60_000);
