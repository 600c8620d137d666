import puppeteer from 'puppeteer-core';
import { expect, it } from 'vitest';
import { bundleFixtures, pageLoading, serveFiles } from '../support/chromium.js';
import { startTokenServer } from '../support/token-server.js';

// Whether Firefox ESR, driven as the engines suite drives it (puppeteer-core over WebDriver BiDi, headless), ever
// restores a page from its back/forward cache — the condition for running the back/forward-cache model
// (test/browser/bfcache-model.test.ts) there. Measured: it does not, even for a plain page with nothing that keeps a
// page out of the cache, with `browser.sessionhistory.max_total_viewers` set and the navigations made by the page
// itself (`location.href`, `history.back()`): going back loads a new document (`pageshow` not `persisted`). So in
// Firefox under automation a navigation is an unload and a reload, which the engines suite covers; this test fails
// the day Firefox restores such a page, so that the model is run there too.
it('Firefox ESR under WebDriver BiDi restores no page from the back/forward cache (so the model runs in Chromium only)', async () => {
  const server = await startTokenServer();
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    headless: true,
    protocolTimeout: 30_000,
    extraPrefsFirefox: { 'browser.sessionhistory.max_total_viewers': 8 },
  });
  try {
    const files = await bundleFixtures({ tab: 'test/browser/fixtures/tab.ts' });
    const watch = '<script>addEventListener("pageshow", (event) => (globalThis.shows ??= []).push(event.persisted))</script>';
    serveFiles(server, { ...files, 'away.html': '<!doctype html><title>away</title>', 'plain.html': `<!doctype html><title>plain</title>${watch}` });
    server.route((_req, res, url) => {
      if (url.pathname !== '/cacheable-tab.html') return false;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(pageLoading('tab.js'));
      return true;
    });
    const client = server.addClient('firefox-bfcache');
    const page = await browser.newPage();
    const restored: Record<string, unknown> = {};
    for (const path of ['/plain.html', `/cacheable-tab.html?client=${client.id}&secret=${client.secret}&auto`]) {
      await page.goto(server.origin + path);
      await page.evaluate(() => Object.assign(globalThis, { marker: 'this document' }));
      await new Promise((resolve) => setTimeout(resolve, 500));
      await page.evaluate((away) => void (location.href = away), `${server.origin}/away.html`);
      await page.waitForFunction(() => location.pathname === '/away.html', { timeout: 10_000 });
      await page.evaluate(() => history.back());
      await page.waitForFunction(() => location.pathname !== '/away.html' && document.readyState === 'complete', { timeout: 10_000 });
      restored[path.split('?')[0]!] = await page.evaluate(() => (globalThis as { marker?: string }).marker ?? 'a new document');
    }
    expect(restored).toEqual({ '/plain.html': 'a new document', '/cacheable-tab.html': 'a new document' });
  } finally {
    await browser.close();
    await server.close();
  }
});
