import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServiceStats } from '../../demo/config.js';
import { SERVICE_ACCOUNT } from '../../demo/service/backend.js';
import { launchChromium, WEBGL_ARGS } from '../support/chromium.js';
import { freePort } from '../support/free-port.js';
import { loginForm } from '../support/openid-provider.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const results = path.join(root, 'test-results');

let demo: ChildProcess;
let url: string;
let browser: Browser;
let context: BrowserContext;
const tabs: Page[] = [];
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
  url = await printedUrl(demo, 90_000);
  browser = await launchChromium(WEBGL_ARGS);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watchShipped(context);
  context.on('response', (response) => {
    const tile = new URL(response.url());
    if (!tile.pathname.startsWith('/tiles/')) return;
    tileStatuses.push(response.status());
    if (tile.searchParams.get('via') === 'service-worker' && response.fromServiceWorker()) serviceWorkerTiles.push(response.status());
  });
});

afterAll(async () => {
  await browser?.close();
  await stop(demo);
});

it('signs in through the provider\'s form in one tab; two tabs opened afterwards are signed in too; the maps show the protected tiles', async () => {
  const first = await context.newPage();
  tabs.push(first);
  await signInThroughForm(first, 'ada.lovelace');
  for (let index = 0; index < 2; index++) {
    const page = await context.newPage();
    await page.goto(url);
    tabs.push(page);
  }
  for (const page of tabs) {
    await page.bringToFront();
    await page.waitForSelector('body[data-auth="signed-in"]', { timeout: 30_000 });
    expect(await page.evaluate(() => document.body.dataset.user)).toBe('Ada Lovelace');
    await page.waitForFunction(() => Number(document.body.dataset.tiles ?? 0) >= 6, undefined, { timeout: 45_000 });
  }
  expect(tileStatuses.length).toBeGreaterThanOrEqual(18);
  expect(tileStatuses.filter((status) => status !== 200)).toEqual([]);
  for (const [index, page] of tabs.entries()) {
    await page.bringToFront();
    await page.waitForTimeout(500); // the last tiles fade in
    await page.screenshot({ path: path.join(results, `demo-tab-${index + 1}.png`) });
    expect(await satelliteShare(page), `tab ${index + 1} shows satellite pixels`).toBeGreaterThan(0.1);
  }
});

it('the three tabs caused exactly one token request: the one code exchange (needs the cross-tab browser sharing)', async () => {
  const stats = await serviceStats();
  expect(stats.tabs).toBe(3);
  expect(stats).toMatchObject({ codeExchanges: 1, refreshRequests: 0, reusedRefreshTokens: 0, tokenRequests: 1 });
  const roles = await Promise.all(tabs.map((page) => page.evaluate(() => document.body.dataset.role)));
  expect(roles.filter((role) => role === 'leader')).toHaveLength(1);
  expect(roles.filter((role) => role === 'follower')).toHaveLength(2);
});

it('with the switch on, the service worker (handleAuthFetch) adds the token: tiles load, still one token request', async () => {
  const [first] = tabs as [Page];
  await first.bringToFront();
  await first.click('label.switch'); // the checkbox itself is hidden behind the drawn switch, as a user sees it
  await first.waitForFunction(() => document.getElementById('via-sw-text')?.textContent === 'The service worker adds the token', undefined, {
    timeout: 30_000,
  });
  await expect.poll(() => serviceWorkerTiles.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(6);
  expect(serviceWorkerTiles.filter((status) => status !== 200)).toEqual([]);
  const stats = await serviceStats();
  expect(stats.workers).toBeGreaterThanOrEqual(1);
  expect(stats.unauthorized).toBe(0);
  expect(stats.tokenRequests, 'the service worker joined the tabs\' session').toBe(1);
  await first.screenshot({ path: path.join(results, 'demo-service-worker.png') });
  expect(await satelliteShare(first)).toBeGreaterThan(0.1);
});

it('reads well at a phone width', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await phone.newPage();
  // A new browser profile: signed out, and the sign-in card fits the screen too.
  await page.goto(url);
  await page.waitForSelector('body[data-auth="signed-out"]', { timeout: 30_000 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await signInThroughForm(page, 'grace.hopper');
  await page.waitForSelector('body[data-auth="signed-in"]', { timeout: 30_000 });
  await page.waitForFunction(() => Number(document.body.dataset.tiles ?? 0) >= 2, undefined, { timeout: 45_000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(results, 'demo-phone.png'), fullPage: true });
  // Nothing sticks out sideways at 390 px.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await phone.close();
});

it('signing out in one tab shows signed-out in the others; that tab goes through the provider\'s logout and back', async () => {
  const [first, second, third] = tabs as [Page, Page, Page];
  await second.bringToFront();
  const leftForLogout = second.waitForURL((address) => !address.href.startsWith(url), { timeout: 15_000 });
  await second.click('#sign-out');
  for (const page of [first, third]) {
    await page.waitForSelector('body[data-auth="signed-out"]', { timeout: 10_000 });
    expect(await page.isVisible('#signed-out')).toBe(true);
  }
  await leftForLogout;
  await second.waitForURL((address) => address.href.startsWith(url), { timeout: 15_000 });
  await second.waitForSelector('body[data-auth="signed-out"]', { timeout: 15_000 });
  expect(await second.isVisible('#signed-out')).toBe(true);
  await first.bringToFront();
  await first.waitForTimeout(500);
  await first.screenshot({ path: path.join(results, 'demo-signed-out.png') });
  expect(await satelliteShare(first)).toBeLessThan(0.01);
});

it('the client-credentials switch: the backend\'s service account, one token request; no page ever received the secret', async () => {
  const before = (await serviceStats()).tokenRequests;
  const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watchShipped(other);
  const page = await other.newPage();
  await page.goto(`${url}?mode=client-credentials`);
  await page.waitForSelector('body[data-auth="signed-in"]', { timeout: 30_000 });
  await page.waitForFunction(() => Number(document.body.dataset.tiles ?? 0) >= 6, undefined, { timeout: 45_000 });
  expect((await serviceStats()).tokenRequests).toBe(before + 1);
  const bodies = await Promise.all(shipped);
  expect(bodies.length).toBeGreaterThan(10);
  expect(bodies.filter((body) => body.includes(SERVICE_ACCOUNT.clientSecret))).toEqual([]);
  await other.close();
});

// ---- helpers -----------------------------------------------------------------------------------------------------

/** The user clicks "Sign in", types a name into the local provider's login form and comes back signed in. */
async function signInThroughForm(page: Page, login: string): Promise<void> {
  if (!page.url().startsWith(url)) await page.goto(url);
  await page.waitForSelector('body[data-auth="signed-out"]', { timeout: 30_000 });
  await page.click('#sign-in');
  await page.waitForSelector(loginForm.login, { timeout: 15_000 });
  await page.fill(loginForm.login, login);
  await page.click(loginForm.submit);
  await page.waitForURL((address) => address.href.startsWith(url), { timeout: 15_000 });
  await page.waitForSelector('body[data-auth="signed-in"]', { timeout: 30_000 });
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
