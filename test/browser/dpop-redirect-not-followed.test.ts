import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * The redirect rule of DPoP requests in a browser (src/dpop/resource-request.ts, docs/dpop.md "Redirects"): a DPoP
 * request goes out with `redirect: 'manual'`, and a browser answers a redirect with an `opaqueredirect` that hides
 * `Location`. No proof can be signed for a URL we cannot read, so the redirect is not followed: `fetchWithToken`
 * rejects with `request_failed`, the API behind the redirect never sees the proof, and no token is requested for it.
 * (Servers, which read `Location`, follow it with a new proof: test/node/dpop-redirect-new-proof-per-hop.test.ts.)
 */
const env = useOidcApp({ dpop: true });

it('a same-origin 307 before a DPoP API: request_failed, the proof never presented at the target, no token request', async () => {
  env.config = { ...env.config, dpop: true };
  const context = await env.browser.newContext();
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!)).toBe('ok');
  expect(await inApp(tab!, (app) => app.fetchApi())).toBe(200);
  const before = { ...env.op.counts };
  const outcomes = await inApp(tab!, async (app, url) => [await app.fetchAt(url), await app.fetchAt(url), await app.fetchAt(url)], `${env.config.apiUrl}-moved`);
  const after = env.op.counts;
  expect({
    outcomes,
    moved: after.movedApiCalls - before.movedApiCalls,
    apiCalls: after.apiCalls - before.apiCalls,
    refreshRequests: after.refreshRequests - before.refreshRequests,
    codeExchanges: after.codeExchanges - before.codeExchanges,
  }).toEqual({ outcomes: ['request_failed', 'request_failed', 'request_failed'], moved: 3, apiCalls: 0, refreshRequests: 0, codeExchanges: 0 });
  // The session goes on: its token was not dropped.
  expect(await inApp(tab!, (app) => app.fetchApi())).toBe(200);
  await context.close();
}, 60_000);
