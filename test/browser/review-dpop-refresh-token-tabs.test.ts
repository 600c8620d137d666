import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium } from '../support/chromium.js';

/**
 * Review of issue 25 (DPoP) against the README's promise "a refresh token is never sent twice": tabs of one origin
 * with `createSession({ provider: refreshTokenGrant({ refreshToken }), dpop: true })`. `dpop: true` generates a key
 * per context, and that key's id is part of the credential key (src/session/dpop.ts), so every tab is a credential
 * of its own — and every tab sends the one refresh token the app was given. With rotation, the second use is a
 * reuse: the provider revokes the grant. Fixed: in a browser `dpop: true` is the origin's key (IndexedDB, Web Lock).
 */
let browser: Browser;
let origin: string;
const uses = new Map<string, number>();
const server = createServer((req, res) => {
  void (async () => {
    const { pathname } = new URL(req.url ?? '/', 'http://x');
    if (pathname === '/token') {
      const refreshToken = new URLSearchParams(await text(req)).get('refresh_token') ?? '';
      uses.set(refreshToken, (uses.get(refreshToken) ?? 0) + 1);
      if (uses.get(refreshToken)! > 1) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant', error_description: 'refresh token reused' }));
        return;
      }
      const token_type = req.headers.dpop === undefined ? 'Bearer' : 'DPoP';
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ access_token: `at-${Math.random()}`, token_type, expires_in: 300, refresh_token: `rt-${Math.random()}` }));
      return;
    }
    const body = files[pathname.slice(1)];
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': pathname.endsWith('.html') ? 'text/html' : 'text/javascript' }).end(body);
  })();
});
let files: Record<string, string> = {};

beforeAll(async () => {
  files = await bundleFixtures({ page: 'test/browser/fixtures/review-dpop-refresh-page.ts' });
  files['page.html'] = pageLoading('page.js');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await acquireChromium();
});
afterAll(async () => {
  await releaseChromium(browser);
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it('3 tabs with refreshTokenGrant and dpop: true: the refresh token is sent once, and every tab gets a token', async () => {
  const context = await browser.newContext();
  const pages = await Promise.all([0, 1, 2].map(() => context.newPage()));
  for (const page of pages) {
    await page.goto(`${origin}/page.html?rt=rt-0`);
    await page.waitForFunction(() => 'page' in globalThis);
  }
  const tokens = [];
  for (const page of pages) tokens.push(await page.evaluate(() => (globalThis as unknown as { page: { token(): Promise<string> } }).page.token()));
  // Observed: rt-0 sent 3 times (once per tab); the 2nd and 3rd tabs get invalid_grant — with a real provider's
  // reuse detection, the whole grant (the 1st tab's too) is revoked.
  expect({ sent: uses.get('rt-0'), tokens: tokens.map((token) => token.split(' ')[0]) }).toEqual({ sent: 1, tokens: ['DPoP', 'DPoP', 'DPoP'] });
  // One token, one key: every tab signs with the key the token is bound to.
  expect(new Set(tokens).size).toBe(1);
  const jkts = await Promise.all(pages.map((page) => page.evaluate(() => (globalThis as unknown as { page: { jkt(): Promise<string> } }).page.jkt())));
  expect(new Set(jkts).size).toBe(1);
  await context.close();
}, 60_000);
