/**
 * What the sign-in benches share (bench/sign-in.ts, bench/dpop-sign-in.ts): the app's origin serving one page per
 * library, each page's bundle built from its fixture, and one run — one tab signs in through the provider's login
 * form, the other tabs open after it, every tab calls the API on a steady schedule — counted by the provider.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { bundleFixtures } from '../../test/support/chromium.js';
import { loginForm, type OpenIdProvider, type OpenIdProviderCounts } from '../../test/support/openid-provider.js';
import type { SignInApp } from '../fixtures/sign-in-app.js';
import { smoke } from './pairs.js';

/** The scenario both benches run: 8 tabs, 30 s of 4 s access tokens, an API call per tab every 500 ms. */
export const scenario = {
  tabs: smoke ? 3 : 8,
  /** ms of API calls (the smoke run: one access token's lifetime, time for the first refresh) */
  duration: smoke ? 2_000 : 30_000,
  /** s */
  accessTokenTtl: smoke ? 2 : 4,
  /** ms between one tab's API calls */
  interval: 500,
  runs: smoke ? 1 : 2,
  scope: 'openid offline_access profile email api',
} as const;

export const scenarioText = `${scenario.tabs} tabs, ${scenario.duration / 1000} s of ${scenario.accessTokenTtl} s access tokens`;

/** The app: one origin serving every page from memory (each page registered at the provider as its own client). */
export interface AppServer {
  readonly origin: string;
  pageUrl(page: string): string;
  /** Serves `/<page>.html`, loading `/<bundle>.js`, with `data` as `<body data-*>` attributes (bench/fixtures/sign-in-app.ts reads them). */
  addPage(page: string, bundle: string, data: Record<string, string | number>): void;
  /**
   * Builds each bundle from its fixture and serves it as `/<bundle>.js`; returns the error of each bundle that does
   * not build (served empty, so that its rows say so instead of measuring nothing).
   */
  addBundles(fixtures: Record<string, string>): Promise<Record<string, string>>;
  close(): void;
}

export async function startAppServer(): Promise<AppServer> {
  const files = new Map<string, { body: string; type: string }>();
  const server = createServer((req, res) => {
    const file = files.get(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (file === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    pageUrl: (page) => `${origin}/${page}.html`,
    addPage(page, bundle, data) {
      const attributes = Object.entries(data)
        .map(([name, value]) => `data-${name}="${value}"`)
        .join(' ');
      files.set(`/${page}.html`, {
        type: 'text/html; charset=utf-8',
        body: `<!doctype html><html><head><meta charset="utf-8"><title>${page}</title></head><body ${attributes}><script type="module" src="/${bundle}.js"></script></body></html>`,
      });
    },
    async addBundles(fixtures) {
      const errors: Record<string, string> = {};
      for (const [bundle, fixture] of Object.entries(fixtures)) {
        let code = '';
        try {
          code = (await bundleFixtures({ [bundle]: fixture }))[`${bundle}.js`] ?? '';
        } catch (error) {
          errors[bundle] = String(error);
        }
        files.set(`/${bundle}.js`, { body: code, type: 'text/javascript' });
      }
      return errors;
    },
    close: () => void server.close(),
  };
}

export interface RunResult {
  readonly counts: OpenIdProviderCounts;
  /** Distinct DPoP keys (`jkt`) whose proofs the token endpoint and the API received (0 without DPoP). */
  readonly dpopKeys: number;
  readonly calls: number;
  readonly failed: number;
  readonly signedInTabs: number;
  /** Why the API and the token endpoint refused requests: a `DPoPCheck`, `unauthorized`, or a `grant.error`'s error, with how often. */
  readonly refusals: Record<string, number>;
  /** When the provider revoked the grant, in s after the code exchange (the sign-in), if it did. */
  readonly revokedAfter?: number;
  readonly errors: string[];
}

/**
 * One run of one page: sign in through the form in one tab, open the others, call the API for the scenario's
 * duration; counts from the provider since `op.reset()`. `prepare` runs after the reset (e.g. to turn API nonces on).
 */
export async function signInRun(browser: Browser, op: OpenIdProvider, url: string, prepare?: () => void): Promise<RunResult> {
  const context = await browser.newContext();
  op.reset();
  op.accessTokenTtl = scenario.accessTokenTtl;
  prepare?.();
  const appOrigin = new URL(url).origin;
  const providerOrigin = new URL(op.issuer).origin;
  const first = await context.newPage();
  await first.goto(url);
  await appReady(first);
  await first.click('#sign-in');
  await first.waitForURL((at) => at.origin === providerOrigin && at.pathname.startsWith('/interaction/'));
  await first.fill(loginForm.login, 'ada.lovelace');
  await first.click(loginForm.submit);
  await first.waitForURL((at) => at.origin === appOrigin, { waitUntil: 'load' });
  await appReady(first);
  await first.waitForFunction(() => (globalThis as unknown as { app: SignInApp }).app.signedIn(), undefined, { timeout: 10_000 }).catch(() => undefined);

  const others = await Promise.all(Array.from({ length: scenario.tabs - 1 }, () => context.newPage()));
  await Promise.all(others.map((page) => page.goto(url)));
  const tabs = [first, ...others];
  await Promise.all(others.map(appReady));
  const signedIn = await Promise.all(tabs.map((page) => page.evaluate(() => (globalThis as unknown as { app: SignInApp }).app.signedIn())));
  const measured = await Promise.all(
    tabs.map((page) => page.evaluate(([duration, interval]) => (globalThis as unknown as { app: SignInApp }).app.measure(duration!, interval!), [scenario.duration, scenario.interval])),
  );
  const libraryErrors = (await Promise.all(tabs.map((page) => page.evaluate(() => (globalThis as unknown as { app: SignInApp }).app.errors)))).flat();
  await context.close();
  const signedInAt = op.log.find((entry) => entry.event === 'grant.success' && entry.detail === 'authorization_code')?.at;
  const revokedAt = op.log.find((entry) => entry.event === 'grant.revoked' && entry.detail === 'token')?.at;
  return {
    ...(signedInAt === undefined || revokedAt === undefined ? {} : { revokedAfter: (revokedAt - signedInAt) / 1000 }),
    counts: { ...op.counts },
    dpopKeys: [...op.dpopKeys.keys()].filter((jkt) => jkt !== '?').length,
    calls: measured.reduce((sum, tab) => sum + tab.calls, 0),
    failed: measured.reduce((sum, tab) => sum + tab.failed, 0),
    refusals: tally([
      ...op.apiRequests.filter((request) => request.outcome !== 'ok' && request.outcome !== 'nonce-challenge').map((request) => `API ${request.outcome}`),
      ...op.log.filter((entry) => entry.event === 'grant.error').map((entry) => `token endpoint ${entry.detail ?? ''}`),
    ]),
    signedInTabs: signedIn.filter(Boolean).length,
    errors: [...libraryErrors, ...measured.flatMap((tab) => tab.errors)],
  };
}

/**
 * Runs each library `scenario.runs` times, alternating (A B C, then C B A) so that drift hits every side alike; a
 * library whose page did not build is left out here and reported by `failOnBundleErrors`.
 */
export async function alternateRuns<Library extends string>(
  libraries: readonly Library[],
  unbuilt: (library: Library) => boolean,
  run: (library: Library) => Promise<RunResult>,
  describe: (result: RunResult) => string,
): Promise<{ results: Record<Library, RunResult[]>; order: Library[] }> {
  const results = Object.fromEntries(libraries.map((library) => [library, [] as RunResult[]])) as Record<Library, RunResult[]>;
  const order = Array.from({ length: scenario.runs }, (_, index) => (index % 2 === 0 ? libraries : [...libraries].reverse())).flat();
  for (const library of order) {
    if (unbuilt(library)) continue;
    const result = await run(library);
    results[library].push(result);
    console.log(`${library}: ${describe(result)}`);
  }
  return { results, order };
}

/** A page that does not build has no row to measure: say why, and fail the bench. */
export function failOnBundleErrors(bundleErrors: Readonly<Record<string, string>>): void {
  for (const [bundle, error] of Object.entries(bundleErrors)) {
    console.error(`\n${bundle}: its page does not build, so its row cannot be measured:\n${error}`);
  }
  if (Object.keys(bundleErrors).length > 0) process.exit(1);
}

function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

async function appReady(page: Page): Promise<void> {
  await page.waitForFunction(() => 'app' in globalThis, undefined, { timeout: 15_000 });
  await page.evaluate(() => (globalThis as unknown as { app: SignInApp }).app.ready);
}
