import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { NONCE_PROBE_WAIT } from '../../src/dpop/nonce-probe.js';
import { pageLoading } from '../support/chromium.js';
import { inApp, openApps, SCOPE, useOidcApp, userSignsIn } from '../support/oidc-app.js';
import { pageFetch } from '../support/page-requests.js';
import type { OidcWorkerAnswer } from './fixtures/oidc-worker.js';

/**
 * Issue 25, "a nonce challenge answered once for all contexts", at an API that requires its own nonce (RFC 9449 §9):
 * the first calls of every tab, a dedicated worker and the service worker leave together before any nonce is known.
 * Each was challenged (a sign-in with 8 tabs paid 8 API round trips); now one context probes under a Web Lock per API
 * origin, the others wait for its answer (at most `NONCE_PROBE_WAIT`) and sign with the nonce it kept in IndexedDB.
 */
const env = useOidcApp({ dpop: true }, {}, {
  fixtures: { 'auth-sw': 'test/browser/fixtures/auth-sw.ts', 'sw-page': 'test/browser/fixtures/sw-page.ts' },
  files: () => ({ 'sw.html': pageLoading('sw-page.js') }),
});
const signedIn = (): boolean => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn;
let context: BrowserContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

/** `count` app tabs of a fresh profile, the user signed in (in the first), every tab with the token. */
async function signedInTabs(count: number): Promise<Page[]> {
  env.config = { ...env.config, dpop: true };
  // Long enough that no refresh meets the first calls on a loaded machine.
  env.op.accessTokenTtl = 60;
  context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, count);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await Promise.all(tabs.map((tab) => tab.waitForFunction(signedIn)));
  await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.token())));
  return tabs;
}

/** A dedicated worker of `page` with its own `oidcSession({ dpop: true })` of the credential. */
async function startWorker(page: Page): Promise<(command: string) => Promise<OidcWorkerAnswer>> {
  const { issuer, clientId, scope, apiUrl } = env.config;
  const url = `/oidc-worker.js?${new URLSearchParams({ issuer, clientId, scope, apiUrl, dpop: '' })}`;
  await page.evaluate((scriptUrl) => {
    (globalThis as unknown as { dpopWorker: Worker }).dpopWorker = new Worker(scriptUrl, { type: 'module' });
  }, url);
  return (command) =>
    page.evaluate(
      (message) =>
        new Promise<OidcWorkerAnswer>((resolve) => {
          const worker = (globalThis as unknown as { dpopWorker: Worker }).dpopWorker;
          worker.addEventListener('message', (event: MessageEvent<OidcWorkerAnswer>) => resolve(event.data), { once: true });
          worker.postMessage(message);
        }),
      command,
    );
}

/** A page controlled by the auth service worker (test/browser/fixtures/auth-sw.ts), which signs the tiles' requests. */
async function serviceWorkerPage(profile: BrowserContext): Promise<Page> {
  const page = await profile.newPage();
  const query = new URLSearchParams({ issuer: env.op.issuer, client: env.config.clientId, scope: SCOPE, dpop: '', match: `${env.op.tilesUrl}/` });
  await page.goto(`${env.origin}/sw.html?${query}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

/**
 * The API's URL with a query of its own for each call (one server, one nonce): Chromium's HTTP cache lets one GET of a
 * URL at a time go to the network (up to 20 s), so calls of one URL would wait for a hanging one whatever we do.
 */
const callUrl = (call: string): string => `${env.op.apiUrl}?call=${call}`;

it('8 tabs, a dedicated worker and the service worker call the API at once: 1 nonce challenge for all, every call accepted', async () => {
  const tabs = await signedInTabs(8);
  const worker = await startWorker(tabs[1]!);
  expect(await worker('token')).toMatchObject({ signedIn: true, status: 200 });
  const swPage = await serviceWorkerPage(context!);
  const before = env.op.apiRequests.length;

  env.op.apiNonce = true;
  const [tabStatuses, workerAnswer, swAnswer] = await Promise.all([
    Promise.all(tabs.map((tab, index) => inApp(tab, (app, url) => app.fetchAt(url), callUrl(`tab-${index}`)))),
    worker('fetch'),
    // The tiles are the API's origin, so one nonce: the service worker signs this fetch of the page.
    pageFetch(swPage, `${env.op.tilesUrl}/1/0/0.png`),
  ]);
  expect(tabStatuses).toEqual(Array(8).fill(200));
  expect(workerAnswer).toMatchObject({ status: 200 });
  expect(swAnswer.status).toBe(200);
  const first = env.op.apiRequests.slice(before);
  // 10 calls accepted, one of them after the one challenge.
  expect(first.filter((request) => request.outcome === 'ok')).toHaveLength(10);
  expect(env.op.counts).toMatchObject({ apiNonceChallenges: 1, failedApiCalls: 0, replayedProofs: 0 });
}, 90_000);

it('a probing tab killed while its call hangs: the others wait for it, and go on when it dies, within the bound', async () => {
  const tabs = await signedInTabs(4);
  env.op.apiNonce = true;
  const held = env.op.holdNextApiCalls(1);
  // Tab 0's first call is the probe; the API holds it, unanswered.
  void inApp(tabs[0]!, (app, url) => app.fetchAt(url), callUrl('probe')).catch(() => undefined);
  await held.arrived;
  const lockHeld = (): Promise<boolean> =>
    tabs[1]!.evaluate(async () => ((await navigator.locks.query()).held ?? []).some((lock) => lock.name?.startsWith('shared-session-dpop-nonce-probe') === true));
  expect(await lockHeld()).toBe(true);

  // The others' first calls wait for the probe's answer …
  const others = tabs.slice(1).map((tab, index) =>
    inApp(
      tab,
      async (app, url) => {
        const started = performance.now();
        const status = await app.fetchAt(url);
        return { status, waited: performance.now() - started };
      },
      callUrl(`tab-${index + 1}`),
    ),
  );
  const sentBefore = env.op.apiRequests.length;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(env.op.apiRequests.length).toBe(sentBefore);
  // … which never comes: the tab dies, and with it its lock.
  await tabs[0]!.goto('chrome://kill').catch(() => undefined);
  const answers = await Promise.all(others);
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    // They waited for the probe (until the kill, 1 s in), and no longer than the bound.
    expect(answer.waited).toBeGreaterThanOrEqual(900);
    expect(answer.waited).toBeLessThan(NONCE_PROBE_WAIT);
  }
  expect(await lockHeld()).toBe(false);
  held.release();
  expect(env.op.counts).toMatchObject({ failedApiCalls: 0, replayedProofs: 0 });
}, 90_000);

it('a probe that hangs in a live tab holds the other tabs no longer than the bound; later calls never wait', async () => {
  const tabs = await signedInTabs(3);
  env.op.apiNonce = true;
  const held = env.op.holdNextApiCalls(1);
  const probe = inApp(tabs[0]!, (app, url) => app.fetchAt(url), callUrl('probe')).catch(String);
  await held.arrived;
  const waits = await Promise.all(
    tabs.slice(1).map((tab, index) =>
      inApp(
        tab,
        async (app, url) => {
          const started = performance.now();
          const status = await app.fetchAt(`${url}-first`);
          const waited = performance.now() - started;
          // A second call of the tab: the server is known now, it never waits (the probe still hangs).
          const again = performance.now();
          const second = await app.fetchAt(`${url}-second`);
          return { status, waited, second, secondTook: performance.now() - again };
        },
        callUrl(`tab-${index + 1}`),
      ),
    ),
  );
  for (const wait of waits) {
    expect(wait).toMatchObject({ status: 200, second: 200 });
    expect(wait.waited).toBeGreaterThanOrEqual(NONCE_PROBE_WAIT - 100);
    // Never a second bound: the server was called, so nothing waits for the probe that still hangs.
    expect(wait.secondTook).toBeLessThan(NONCE_PROBE_WAIT - 100);
  }
  held.release();
  expect(await probe).toBe(200);
  expect(env.op.counts).toMatchObject({ failedApiCalls: 0, replayedProofs: 0 });
}, 90_000);
