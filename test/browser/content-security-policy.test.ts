import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, releaseChromium } from '../support/chromium.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The browser bundle under a strict Content-Security-Policy, as security-conscious apps deploy it: scripts from the
// page's origin only (no 'unsafe-eval', no inline script) and Trusted Types enforced for every script sink.
const POLICY = "script-src 'self'; require-trusted-types-for 'script'";

let server: TokenServer;
let browser: Browser;

beforeAll(async () => {
  server = await startTokenServer();
  const files: Record<string, string> = {
    ...(await bundleFixtures({ 'csp-listener': 'test/browser/fixtures/csp-listener.ts', 'csp-page': 'test/browser/fixtures/csp-page.ts' })),
    'csp.html':
      '<!doctype html><html><head><meta charset="utf-8"><title>csp</title><script src="/csp-listener.js"></script></head>' +
      '<body><script type="module" src="/csp-page.js"></script></body></html>',
  };
  server.route((_req, res, url) => {
    const name = url.pathname.replace(/^\//, '');
    const body = files[name];
    if (body === undefined) return false;
    res.writeHead(200, {
      'content-type': name.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript',
      'cache-control': 'no-store',
      'content-security-policy': POLICY,
    });
    res.end(body);
    return true;
  });
  browser = await acquireChromium();
});
afterAll(async () => {
  await releaseChromium(browser);
  await server?.close();
});

const violations = (page: Page): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { cspViolations: string[] }).cspViolations);

it("two tabs share one token under script-src 'self' with Trusted Types enforced, and cause no CSP violation", async () => {
  const client = server.addClient('csp-app');
  const context = await browser.newContext();
  try {
    const url = `${server.origin}/csp.html?client=${client.id}&secret=${client.secret}`;
    const tabs: Page[] = [];
    for (let index = 0; index < 2; index++) {
      const tab = await context.newPage();
      await tab.goto(url);
      await tab.waitForFunction(() => document.title === 'ready', undefined, { timeout: 15_000 });
      tabs.push(tab);
    }
    const tokens = await Promise.all(tabs.map((tab) => tab.evaluate(() => (globalThis as unknown as { token(): Promise<string> }).token())));
    expect(new Set(tokens).size).toBe(1);
    expect(server.stats.tokenRequests).toBe(1);
    for (const tab of tabs) expect(await violations(tab)).toEqual([]);
    // The policy is really enforced on these pages: the same `new Function` a library might try is refused.
    expect(await tabs[0]!.evaluate(() => (globalThis as unknown as { evalBlocked(): Promise<boolean> }).evalBlocked())).toBe(true);
    await expect.poll(() => violations(tabs[0]!)).toHaveLength(1);
  } finally {
    await context.close();
  }
});
