import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('a rotating refresh token is stored for failover but never broadcast; the client secret goes nowhere', async () => {
  const client = env.server.addClient('refresh-grant');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial });
  const tabs = await openTabs(context, url, 3);
  for (const tab of tabs) await inTab(tab, (harness) => harness.sniff());
  const [token] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())));
  const leaderIndex = (await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())))).indexOf(true);

  // The new leader continues from the stored (rotated) refresh token: no reuse, no failed grant.
  await tabs[leaderIndex]!.close();
  const survivors = tabs.filter((_, index) => index !== leaderIndex);
  const renewed = await inTab(survivors[0]!, (harness, rejected) => harness.token('a', { rejected }), token);
  expect(renewed).not.toBe(token);
  expect(await inTab(survivors[1]!, (harness) => harness.token())).toBe(renewed);
  expect(env.server.stats.tokenRequests).toBe(2);
  expect(env.server.stats.refreshTokenReuse).toBe(0);
  for (const tab of survivors) expect((await logOf(tab)).filter((entry) => entry.event === 'error')).toEqual([]);

  const records = await inTab(survivors[0]!, (harness) => harness.records());
  expect(records).toHaveLength(1);
  const record = JSON.parse(records[0]!) as { refreshToken?: string; token: { accessToken: string } };
  expect(record.token.accessToken).toBe(renewed);
  expect(record.refreshToken).toMatch(/^rt_/);
  expect(record.refreshToken).not.toBe(initial);
  expect(records[0]).not.toContain(client.secret);
  for (const tab of survivors) {
    const messages = await inTab(tab, (harness) => harness.sniffed());
    expect(messages.some((message) => message.includes(renewed))).toBe(true);
    for (const message of messages) {
      expect(message).not.toContain('rt_');
      expect(message).not.toContain(client.secret);
    }
  }
  await context.close();
});

it('with client credentials nothing but the access token is stored', async () => {
  const client = env.server.addClient('client-credentials-record');
  const context = await env.browser.newContext();
  const [tab] = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 1);
  const token = await inTab(tab!, (harness) => harness.first);
  const [record] = await inTab(tab!, (harness) => harness.records());
  const parsed = JSON.parse(record!) as Record<string, unknown>;
  expect(Object.keys(parsed).sort()).toEqual(['key', 'token', 'v']);
  expect(parsed.token).toMatchObject({ accessToken: token, tokenType: 'Bearer' });
  expect(record).not.toContain(client.secret);
  await context.close();
});
