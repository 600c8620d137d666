import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium, serveFiles } from '../support/chromium.js';
import { startGoogleTokenServer, type GoogleTokenServer, type ServiceAccount } from '../support/google-token-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

/*
 * googleServiceAccount in real Chromium, with the default browser sharing: three tabs share one token, signed and
 * fetched by one of them; the private key never reaches IndexedDB, the BroadcastChannel or the console.
 */

let site: TokenServer; // serves the page (the app's origin)
let google: GoogleTokenServer; // another origin, as Google's endpoint is
let account: ServiceAccount;
let browser: Browser;

beforeAll(async () => {
  [site, google] = await Promise.all([startTokenServer(), startGoogleTokenServer()]);
  account = await google.addAccount('ee-browser');
  serveFiles(site, {
    ...(await bundleFixtures({ 'service-account-page': 'test/browser/fixtures/service-account-page.ts' })),
    'index.html': pageLoading('service-account-page.js'),
  });
  browser = await acquireChromium();
});
afterAll(async () => {
  await releaseChromium(browser);
  await Promise.all([site?.close(), google?.close()]);
});

type Harness = { run(key: unknown): Promise<string[]>; posted(): string[]; stored(): Promise<string> };

it('3 tabs × 50 concurrent getToken → 1 assertion → 1 token; no part of the key in IndexedDB, messages or the console', async () => {
  google.latency = 100;
  const context = await browser.newContext();
  const consoleText: string[] = [];
  const tabs = await Promise.all(Array.from({ length: 3 }, () => context.newPage()));
  for (const tab of tabs) tab.on('console', (message) => consoleText.push(message.text()));
  await Promise.all(tabs.map((tab) => tab.goto(`${site.origin}/index.html`)));
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => 'harness' in globalThis)));
  const answers = await Promise.all(
    tabs.map((tab) =>
      tab.evaluate((key) => (globalThis as unknown as { harness: Harness }).harness.run(key), account.keyFile as unknown),
    ),
  );
  const tokens = new Set(answers.flat());
  expect(tokens.size).toBe(1);
  expect(google.stats).toMatchObject({ requests: 1, assertions: 1, tokens: 1, refused: [] });
  expect(google.verified[0]!.claims).toMatchObject({ iss: account.email, aud: account.keyFile.token_uri });

  const posted = (await Promise.all(tabs.map((tab) => tab.evaluate(() => (globalThis as unknown as { harness: Harness }).harness.posted())))).flat();
  const stored = await tabs[0]!.evaluate(() => (globalThis as unknown as { harness: Harness }).harness.stored());
  const [token] = [...tokens];
  expect(stored).toContain(token); // the token is stored…
  expect(posted.some((message) => message.includes(token!))).toBe(true); // …and broadcast
  const everything = [stored, ...posted, ...consoleText].join('\n');
  const body = account.privatePem.replace(/-----[A-Z ]+-----|\s/g, '');
  for (let index = 0; index + 40 <= body.length; index += 40) expect(everything).not.toContain(body.slice(index, index + 40));
  expect(everything).not.toContain('PRIVATE KEY');
  await context.close();
});
