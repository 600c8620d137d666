import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';
import { judgeMessageElection } from '../support/channel-delivery.js';

const env = useTabs();

async function errorsOf(tab: Parameters<typeof logOf>[0]): Promise<unknown[]> {
  return (await logOf(tab)).filter((entry) => entry.event === 'error').map((entry) => entry.detail);
}

it('without IndexedDB (opening fails) the tabs share through the channel and memory, and say so', async () => {
  const client = env.server.addClient('no-idb');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true, noidb: true });
  const tabs = await openTabs(context, url, 6);
  const tokens = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  expect(new Set(tokens).size).toBe(1);
  expect(env.server.stats.tokenRequests).toBe(1);
  // A tab opened later gets the token from the leader's memory, through the channel.
  const [late] = await openTabs(context, url, 1);
  expect(await inTab(late!, (harness) => harness.first)).toBe(tokens[0]);
  expect(env.server.stats.tokenRequests).toBe(1);
  for (const tab of [...tabs, late!]) {
    expect(await errorsOf(tab)).toEqual(['sharing_degraded']);
    expect(await inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200 });
  }
  await context.close();
});

it('when opening IndexedDB hangs, the tabs give up on it after 3 s and share through the channel', async () => {
  const client = env.server.addClient('idb-hangs');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true, noidb: 'hang' });
  const tabs = await openTabs(context, url, 3);
  const tokens = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  expect(new Set(tokens).size).toBe(1);
  expect(env.server.stats.tokenRequests).toBe(1);
  for (const tab of tabs) {
    expect(await errorsOf(tab)).toEqual(['sharing_degraded']);
    expect(await inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200 });
  }
  await context.close();
});

it('without Web Locks the tabs elect a leader by messages, make 1 request, and say so', async () => {
  const client = env.server.addClient('no-locks');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true, nolocks: true, trace: true });
  const tabs = await openTabs(context, url, 4);
  const tokens = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  // Judged by what the browser delivered in the same run (a loaded machine can be slow to): see judgeMessageElection.
  const logs = await Promise.all(tabs.map((tab) => logOf(tab)));
  const traffic = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.traffic)));
  const { broken, timeline } = judgeMessageElection({ logs, traffic, tokens: tokens.map(String), requests: env.server.stats.tokenRequests });
  expect(broken, timeline).toEqual([]);
  await expect
    .poll(async () => (await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())))).filter(Boolean).length)
    .toBe(1);
  for (const tab of tabs) expect(await errorsOf(tab)).toEqual(['sharing_degraded']);
  await context.close();
});

it('without BroadcastChannel each tab keeps its own session in memory, and says so', async () => {
  const client = env.server.addClient('no-channel');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true, nobc: true });
  const tabs = await openTabs(context, url, 2);
  const tokens = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  expect(new Set(tokens).size).toBe(2);
  expect(env.server.stats.tokenRequests).toBe(2);
  for (const tab of tabs) {
    expect(await errorsOf(tab)).toEqual(['sharing_degraded']);
    expect(await inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200 });
  }
  await context.close();
});
