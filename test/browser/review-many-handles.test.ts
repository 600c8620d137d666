import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * Review (issue 23, a framework app: many handles opened and closed quickly, as components mount and unmount): 50
 * handles of the signed-in credential created and closed in bursts, some before their `ready`, beside the app's own.
 * The app's session stays signed in and usable, no handle's ready rejects, no error, no token request.
 */
const env = useOidcApp();

it('50 handles created and closed in bursts on a signed-in page: the app session is untouched, 0 token requests', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(page!)).toBe('ok');
  const before = { ...env.op.counts };
  const results = await inApp(
    page!,
    async (app, options) => {
      const outcomes: string[] = [];
      for (let burst = 0; burst < 10; burst++) {
        const handles = Array.from({ length: 5 }, () => app.oidcSession(options));
        await Promise.all(handles.slice(0, 2).map((handle) => handle.close()));
        await Promise.all(handles.map((handle) => handle.ready.then(() => 'ok', (error: { code?: string }) => `error:${error.code}`).then((value) => outcomes.push(value))));
        outcomes.push(...handles.slice(2).map((handle) => (handle.signedIn ? 'ok' : 'not signed in')));
        await Promise.all(handles.slice(2).map((handle) => handle.close()));
      }
      return outcomes.filter((value) => value !== 'ok').join(',') || 'all ok';
    },
    { issuer: env.config.issuer, clientId: env.config.clientId, scope: env.config.scope, redirectUri: `${env.origin}/app.html` },
  );
  expect(results).toBe('all ok');
  expect(await inApp(page!, (app) => app.state().signedIn)).toBe(true);
  expect(await inApp(page!, (app) => app.token())).not.toMatch(/^error:/);
  expect((await inApp(page!, (app) => app.log)).filter((entry) => entry.event === 'error')).toEqual([]);
  expect(env.op.counts.refreshRequests).toBe(before.refreshRequests);
  await context.close();
}, 60_000);
