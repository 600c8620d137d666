import type { CDPSession, Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { leaks } from '../support/secrets.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

// The secrets scan of what a browser app shows or reports (IndexedDB and the channels are scanned per engine by the
// cross-engine suite): every console message and browser log entry of each tab (CDP Runtime and Log), uncaught
// errors, every event the sessions emitted, and every error getToken rejected with, as text with its message,
// properties and cause chain — through failures, an OAuth error, a wrong secret, rotations and a sign-out. README:
// no client secret and no refresh token there, ever.

const env = useTabs();

interface Watched {
  readonly page: Page;
  readonly cdp: CDPSession;
  readonly lines: string[];
}

async function watch(page: Page, lines: string[]): Promise<Watched> {
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Runtime.consoleAPICalled', (event) => lines.push(JSON.stringify(event.args)));
  cdp.on('Runtime.exceptionThrown', (event) => lines.push(JSON.stringify(event.exceptionDetails)));
  cdp.on('Log.entryAdded', (event) => lines.push(JSON.stringify(event.entry)));
  await cdp.send('Runtime.enable');
  await cdp.send('Log.enable');
  page.on('pageerror', (error) => lines.push(String(error)));
  return { page, cdp, lines };
}

it('refresh-token tabs through failures, an OAuth error, rotations, a wrong secret and a sign-out: no secret in console, logs, events or errors', async () => {
  const secret = 'browser-scan-client-s3cr3t-value';
  const wrongSecret = 'browser-scan-wrong-s3cr3t-value';
  const client = env.server.addClient('browser-scan', secret);
  env.server.lifetime = 2; // margin 1 s: a rotation every second
  const rt = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const lines: string[] = [];
  const url = tabUrl(env.server.origin, { client: client.id, secret, rt, margin: 1000 });
  const tabs = await openTabs(context, url, 2);
  await Promise.all(tabs.map((tab) => watch(tab, lines)));
  const outcomes: string[] = [];
  const ask = async (): Promise<void> => {
    outcomes.push(...(await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.tokenOrError())))));
  };
  await ask();
  await new Promise((resolve) => setTimeout(resolve, 1_200)); // rotations
  await ask();
  env.server.failNext(4, 503);
  await new Promise((resolve) => setTimeout(resolve, 1_200)); // the refresh ahead of expiry fails
  await ask();
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // past the back-off
  env.server.failNext(1, 400, { body: JSON.stringify({ error: 'invalid_scope', error_description: 'no such scope' }) });
  await ask();
  await ask();
  await inTab(tabs[0]!, (harness) => harness.clear());
  await ask(); // login_required: the refresh token is spent
  // A tab of a client-credentials session with a wrong secret: invalid_client.
  const [wrong] = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: wrongSecret }), 1);
  await watch(wrong!, lines);
  outcomes.push(await inTab(wrong!, (harness) => harness.tokenOrError()));

  const all = [...tabs, wrong!];
  const logs = await Promise.all(all.map((tab) => logOf(tab)));
  const text = outcomes.join('\n');
  expect(text).toContain('login_required');
  expect(text).toContain('invalid_client');
  expect(logs.flat().some((entry) => entry.event === 'error')).toBe(true);
  // The browser logged the failed token requests (a 503, a 400, a 401): the watch sees what a user's console shows.
  expect(lines.some((line) => line.includes('/token'))).toBe(true);
  const places: Record<string, string> = {
    'console and browser log': lines.join('\n'),
    'getToken errors (message, properties, causes)': text,
    events: JSON.stringify(logs),
  };
  const refreshTokens = env.server.issuedRefreshTokens();
  expect(refreshTokens.length).toBeGreaterThan(2);
  const secrets = [
    { name: 'client secret', value: secret },
    { name: 'wrong client secret', value: wrongSecret },
    ...refreshTokens.map((value, index) => ({ name: `refresh token ${index}`, value })),
  ];
  expect(leaks(places, secrets)).toEqual([]);
  await context.close();
});
