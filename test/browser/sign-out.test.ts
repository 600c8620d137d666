import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('sign-out in one tab reaches every other tab within 50 ms; the next token request serves all', async () => {
  const client = env.server.addClient('sign-out');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true });
  const tabs = await openTabs(context, url, 8);
  const [before] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));

  // Timestamps are taken in the pages (one wall clock, µs resolution), not by the driver.
  const started = await inTab(tabs[5]!, (harness) => harness.clear());
  const delays: number[] = [];
  for (const [index, tab] of tabs.entries()) {
    const cleared = (await logOf(tab)).filter((entry) => entry.event === 'cleared');
    expect(cleared.map((entry) => entry.detail)).toEqual([index === 5 ? 'local' : 'remote']);
    if (index !== 5) delays.push(cleared[0]!.at - started);
  }
  expect(Math.max(...delays)).toBeLessThan(50);

  // Everyone dropped the token and the stored record is gone: one new request, for every tab and a new one.
  const after = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())));
  const [late] = await openTabs(context, url, 1);
  expect(await inTab(late!, (harness) => harness.first)).toBe(after[0]);
  expect(new Set(after).size).toBe(1);
  expect(after[0]).not.toBe(before);
  expect(env.server.stats.tokenRequests).toBe(2);
  await context.close();
});

it('a sign-out while the leader is fetching never lets that token come back', async () => {
  const client = env.server.addClient('sign-out-in-flight');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret });
  const tabs = await openTabs(context, url, 3);
  env.server.latency = 600;
  const pending = tabs.map((tab) => inTab(tab, (harness) => harness.token().catch((error: unknown) => String(error))));
  await expect.poll(() => env.server.stats.tokenRequests).toBe(1);
  await inTab(tabs[2]!, (harness) => harness.clear());
  // Every waiting caller is aborted, in every tab, and no tab adopts the token that arrives after the sign-out.
  for (const outcome of await Promise.all(pending)) expect(outcome).toMatch(/cleared/);
  await new Promise((resolve) => setTimeout(resolve, 800));
  for (const tab of tabs) expect((await logOf(tab)).filter((entry) => entry.event === 'token')).toEqual([]);

  env.server.latency = 0;
  const [late] = await openTabs(context, url, 1);
  const fresh = await inTab(late!, (harness) => harness.token());
  expect(env.server.stats.tokenRequests).toBe(2);
  expect(await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())))).toEqual([fresh, fresh, fresh]);
  await context.close();
});
