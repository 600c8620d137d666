import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { CONFIG_PATH, type DemoConfig, type ServiceStats } from '../../demo/config.js';
import { SERVICE_ACCOUNT } from '../../demo/service/backend.js';
import { launchChromium, WEBGL_ARGS } from '../support/chromium.js';
import { freePort } from '../support/free-port.js';
import { loginForm } from '../support/openid-provider.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const results = path.join(root, 'test-results');

/**
 * A hang guard for each wait on a page, not a promise: the demo serves the library's sources through Vite's dev
 * server and draws its maps with WebGL in software, so on a busy 2-core machine a page load takes tens of seconds.
 */
const PAGE_WAIT = 120_000;
/** Each test's bound: a few page waits (signing in three tabs loads four pages). */
const TEST_BOUND = 5 * PAGE_WAIT;

let demo: ChildProcess;
/** What `npm run demo` printed: shown with a failure (Vite says there why it reloaded a page, the provider its errors). */
let demoOutput = '';
let url: string;
let browser: Browser;
const tileStatuses: number[] = [];
/** Tiles the page received through the service worker (`?via=service-worker`), with their statuses. */
const serviceWorkerTiles: number[] = [];
/** Every script and document the browser received from the demo, to check that none carries the client secret. */
const shipped: Array<Promise<string>> = [];

beforeAll(async () => {
  mkdirSync(results, { recursive: true });
  // Started exactly as README says (`npm run demo`), on a free port. Tokens live 5 min here instead of 60 s, so that a
  // slow, busy machine cannot see a legitimate refresh before the "one token request" check.
  demo = spawn('npm', ['run', 'demo'], {
    cwd: root,
    env: { ...process.env, DEMO_PORT: String(await freePort()), DEMO_TOKEN_LIFETIME: '300' },
    detached: true, // its own process group: npm → tsx → node are stopped together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer): void => void (demoOutput += chunk.toString());
  demo.stdout?.on('data', keep);
  demo.stderr?.on('data', keep);
  url = await printedUrl(demo, PAGE_WAIT);
  browser = await launchChromium(WEBGL_ARGS);
}, TEST_BOUND);

afterAll(async () => {
  await browser?.close();
  await stop(demo);
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(`npm run demo printed (last 4,000 characters):\n${demoOutput.slice(-4_000)}`));
});

/** Three tabs of one browser profile, signed in through the provider's form in the first; the counters before it. */
interface SignedInTabs {
  readonly context: BrowserContext;
  readonly tabs: readonly [Page, Page, Page];
  readonly before: ServiceStats;
}
let signedInTabs: Promise<SignedInTabs> | undefined;

/**
 * The three signed-in tabs the first tests make and the later ones use. When making them failed, the next test that
 * needs them tries again in a new profile, so that each test reports its own promise, not the first one's failure.
 */
function threeSignedInTabs(): Promise<SignedInTabs> {
  signedInTabs ??= openThreeSignedInTabs().catch((error: unknown) => {
    signedInTabs = undefined;
    throw error;
  });
  return signedInTabs;
}

async function openThreeSignedInTabs(): Promise<SignedInTabs> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The tiles of this profile only (not of a try that failed and was closed).
  tileStatuses.length = 0;
  serviceWorkerTiles.length = 0;
  const pages: Page[] = [];
  context.on('page', (page) => pages.push(page));
  try {
    watchShipped(context);
    context.on('response', (response) => {
      const tile = new URL(response.url());
      if (!tile.pathname.startsWith('/tiles/')) return;
      tileStatuses.push(response.status());
      if (tile.searchParams.get('via') === 'service-worker' && response.fromServiceWorker()) serviceWorkerTiles.push(response.status());
    });
    const before = await serviceStats();
    const first = await context.newPage();
    await signInThroughForm(first, 'ada.lovelace');
    const tabs: [Page, Page, Page] = [first, await context.newPage(), await context.newPage()];
    for (const page of tabs.slice(1)) await page.goto(url, { timeout: PAGE_WAIT });
    for (const page of tabs) {
      await page.bringToFront();
      await page.waitForSelector('body[data-auth="signed-in"]', { timeout: PAGE_WAIT });
    }
    return { context, tabs, before };
  } catch (error) {
    // What each tab showed, and its activity list (the page writes there why a sign-in did not complete).
    const shown = await Promise.all(pages.map((page, index) => pageState(page).then((state) => `tab ${index + 1}: ${state}`)));
    await context.close().catch(() => undefined);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${shown.join('\n')}`, { cause: error });
  }
}

/** The tab's address, its `data-auth`, and its activity list; bounded, as a page that hangs answers nothing. */
async function pageState(page: Page): Promise<string> {
  const state = page.evaluate(
    () => `${location.href} data-auth=${document.body.dataset.auth ?? '(none)'}; activity: ${document.getElementById('log')?.innerText.replace(/\s+/g, ' ')}`,
  );
  const silent = new Promise<string>((resolve) => setTimeout(resolve, 5_000, `${page.url()}: the page did not answer in 5 s`));
  return Promise.race([state.catch((error: unknown) => `${page.url()}: ${String(error)}`), silent]);
}

it('signs in through the provider\'s form in one tab; two tabs opened afterwards are signed in too; the maps show the protected tiles', async () => {
  const { tabs } = await threeSignedInTabs();
  for (const page of tabs) {
    await page.bringToFront();
    expect(await page.evaluate(() => document.body.dataset.user)).toBe('Ada Lovelace');
    await page.waitForFunction(() => Number(document.body.dataset.tiles ?? 0) >= 6, undefined, { timeout: PAGE_WAIT });
  }
  expect(tileStatuses.length).toBeGreaterThanOrEqual(18);
  expect(tileStatuses.filter((status) => status !== 200)).toEqual([]);
  for (const [index, page] of tabs.entries()) {
    await page.bringToFront();
    await page.waitForTimeout(500); // the last tiles fade in
    await page.screenshot({ path: path.join(results, `demo-tab-${index + 1}.png`) });
    expect(await satelliteShare(page), `tab ${index + 1} shows satellite pixels`).toBeGreaterThan(0.1);
  }
}, TEST_BOUND);

it('the three tabs caused exactly one token request: the one code exchange (needs the cross-tab browser sharing)', async () => {
  const { tabs, before } = await threeSignedInTabs();
  const stats = await serviceStats();
  expect(stats.tabs).toBe(3);
  // Counted from before the first tab's sign-in (the same numbers as from the demo's start, unless that sign-in had to
  // be tried again in a new profile).
  expect({
    codeExchanges: stats.codeExchanges - before.codeExchanges,
    refreshRequests: stats.refreshRequests - before.refreshRequests,
    reusedRefreshTokens: stats.reusedRefreshTokens - before.reusedRefreshTokens,
    tokenRequests: stats.tokenRequests - before.tokenRequests,
  }).toEqual({ codeExchanges: 1, refreshRequests: 0, reusedRefreshTokens: 0, tokenRequests: 1 });
  const roles = await Promise.all(tabs.map((page) => page.evaluate(() => document.body.dataset.role)));
  expect(roles.filter((role) => role === 'leader')).toHaveLength(1);
  expect(roles.filter((role) => role === 'follower')).toHaveLength(2);
}, TEST_BOUND);

it('with the switch on, the service worker (handleAuthFetch) adds the token: tiles load, still one token request', async () => {
  const {
    tabs: [first],
    before,
  } = await threeSignedInTabs();
  await first.bringToFront();
  await first.click('label.switch'); // the checkbox itself is hidden behind the drawn switch, as a user sees it
  await first.waitForFunction(() => document.getElementById('via-sw-text')?.textContent === 'The service worker adds the token', undefined, {
    timeout: PAGE_WAIT,
  });
  await expect.poll(() => serviceWorkerTiles.length, { timeout: PAGE_WAIT }).toBeGreaterThanOrEqual(6);
  expect(serviceWorkerTiles.filter((status) => status !== 200)).toEqual([]);
  const stats = await serviceStats();
  expect(stats.workers).toBeGreaterThanOrEqual(1);
  expect(stats.unauthorized).toBe(0);
  expect(stats.tokenRequests - before.tokenRequests, 'the service worker joined the tabs\' session').toBe(1);
  await first.screenshot({ path: path.join(results, 'demo-service-worker.png') });
  expect(await satelliteShare(first)).toBeGreaterThan(0.1);
}, TEST_BOUND);

it('reads well at a phone width', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await phone.newPage();
  // A new browser profile: signed out, and the sign-in card fits the screen too.
  await page.goto(url, { timeout: PAGE_WAIT });
  await page.waitForSelector('body[data-auth="signed-out"]', { timeout: PAGE_WAIT });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await signInThroughForm(page, 'grace.hopper');
  await page.waitForSelector('body[data-auth="signed-in"]', { timeout: PAGE_WAIT });
  await page.waitForFunction(() => Number(document.body.dataset.tiles ?? 0) >= 2, undefined, { timeout: PAGE_WAIT });
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(results, 'demo-phone.png'), fullPage: true });
  // Nothing sticks out sideways at 390 px.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await phone.close();
}, TEST_BOUND);

it('signing out in one tab shows signed-out in the others; that tab goes through the provider\'s logout and back', async () => {
  const {
    tabs: [first, second, third],
  } = await threeSignedInTabs();
  const endSession = await endSessionEndpoint();
  await second.bringToFront();
  // Every address the tab's document had, from the click on: a wait for the next navigation started after the click
  // could miss a logout that is already over.
  const visited: string[] = [];
  second.on('framenavigated', (frame) => frame === second.mainFrame() && visited.push(frame.url()));
  await second.click('#sign-out');
  for (const page of [first, third]) {
    await page.waitForSelector('body[data-auth="signed-out"]', { timeout: PAGE_WAIT });
    expect(await page.isVisible('#signed-out')).toBe(true);
  }
  const backFromLogout = (): boolean => {
    const atLogout = visited.findIndex((address) => address.startsWith(endSession));
    return atLogout >= 0 && visited.slice(atLogout + 1).some((address) => address.startsWith(url));
  };
  const through = 'through the logout and back';
  await expect.poll(() => (backFromLogout() ? through : `the tab went to: ${visited.join(' → ')}`), { timeout: PAGE_WAIT }).toBe(through);
  await second.waitForSelector('body[data-auth="signed-out"]', { timeout: PAGE_WAIT });
  expect(second.url().startsWith(url)).toBe(true);
  expect(await second.isVisible('#signed-out')).toBe(true);
  await first.bringToFront();
  await first.waitForTimeout(500);
  await first.screenshot({ path: path.join(results, 'demo-signed-out.png') });
  expect(await satelliteShare(first)).toBeLessThan(0.01);
}, TEST_BOUND);

it('the client-credentials switch: the backend\'s service account, one token request; no page ever received the secret', async () => {
  const before = (await serviceStats()).tokenRequests;
  const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watchShipped(other);
  const page = await other.newPage();
  await page.goto(`${url}?mode=client-credentials`, { timeout: PAGE_WAIT });
  await page.waitForSelector('body[data-auth="signed-in"]', { timeout: PAGE_WAIT });
  await page.waitForFunction(() => Number(document.body.dataset.tiles ?? 0) >= 6, undefined, { timeout: PAGE_WAIT });
  expect((await serviceStats()).tokenRequests).toBe(before + 1);
  const bodies = await Promise.all(shipped);
  expect(bodies.length).toBeGreaterThan(10);
  expect(bodies.filter((body) => body.includes(SERVICE_ACCOUNT.clientSecret))).toEqual([]);
  await other.close();
}, TEST_BOUND);

// ---- helpers -----------------------------------------------------------------------------------------------------

/** The user clicks "Sign in", types a name into the local provider's login form and comes back signed in. */
async function signInThroughForm(page: Page, login: string): Promise<void> {
  if (!page.url().startsWith(url)) await page.goto(url, { timeout: PAGE_WAIT });
  await page.waitForSelector('body[data-auth="signed-out"]', { timeout: PAGE_WAIT });
  await page.click('#sign-in', { timeout: PAGE_WAIT });
  await page.waitForSelector(loginForm.login, { timeout: PAGE_WAIT });
  await page.fill(loginForm.login, login);
  await page.click(loginForm.submit, { timeout: PAGE_WAIT });
  await page.waitForURL((address) => address.href.startsWith(url), { timeout: PAGE_WAIT, waitUntil: 'commit' });
  await page.waitForSelector('body[data-auth="signed-in"]', { timeout: PAGE_WAIT });
}

/** Keeps the text of every script and page the demo sends to this browser context. */
function watchShipped(target: BrowserContext): void {
  target.on('response', (response) => {
    const type = response.request().resourceType();
    if (response.url().startsWith(url) && (type === 'script' || type === 'document')) shipped.push(response.text().catch(() => ''));
  });
}

/** Waits for the demo to print the URL to open, as a person would read it off the terminal. */
function printedUrl(child: ChildProcess, timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`npm run demo printed no URL in ${timeout} ms:\n${output}`)), timeout);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Open\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm run demo exited (${code}) before printing a URL:\n${output}`));
    });
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The provider's end-session endpoint, from its metadata (the issuer is what the page reads from the demo). */
async function endSessionEndpoint(): Promise<string> {
  const { issuer } = (await (await fetch(new URL(CONFIG_PATH, url))).json()) as DemoConfig;
  const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { end_session_endpoint: string };
  return metadata.end_session_endpoint;
}

async function serviceStats(): Promise<ServiceStats> {
  return (await (await fetch(new URL('/stand-in/stats', url))).json()) as ServiceStats;
}

/**
 * The share of the map's pixels that are false-colour imagery (reds and sand; the base map is only dark blue-grey and
 * pale lines), read from a screenshot of what the tab shows.
 */
async function satelliteShare(page: Page): Promise<number> {
  const png = await page.locator('#map').screenshot();
  return page.evaluate(async (base64) => {
    const blob = await (await fetch(`data:image/png;base64,${base64}`)).blob();
    const bitmap = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context2d = canvas.getContext('2d')!;
    context2d.drawImage(bitmap, 0, 0);
    const { data } = context2d.getImageData(0, 0, bitmap.width, bitmap.height);
    let imagery = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i]! > 90 && data[i]! > data[i + 2]! + 25) imagery++;
    }
    return imagery / (data.length / 4);
  }, png.toString('base64'));
}
