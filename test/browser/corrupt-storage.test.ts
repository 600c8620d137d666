import { expect, it } from 'vitest';
import { FORMAT } from '../../src/sharing/browser/messages.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('a corrupt IndexedDB record is deleted and reported; the session authenticates once and stores a good one', async () => {
  const client = env.server.addClient('corrupt');
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true });
  const context = await env.browser.newContext();
  const [first] = await openTabs(context, url, 1);
  const before = await inTab(first!, (harness) => harness.first);
  await first!.close();

  // Another page of the origin (no session) damages every record in several ways, one after the other.
  const [tool] = await openTabs(context, tabUrl(env.server.origin, {}), 1);
  for (const damage of ['not a record', { v: FORMAT, key: 'someone else', token: { accessToken: 'x' } }, { v: FORMAT - 1 }, { v: 99 }]) {
    await inTab(tool!, (harness, value) => harness.corruptRecords(value), damage);
    env.server.resetStats();
    const [tab] = await openTabs(context, url, 1);
    const token = await inTab(tab!, (harness) => harness.first);
    expect(token).not.toBe(before);
    expect(env.server.stats.tokenRequests).toBe(1);
    expect((await logOf(tab!)).filter((entry) => entry.event === 'error').map((entry) => entry.detail)).toEqual(['corrupt_storage']);
    expect(await inTab(tab!, (harness) => harness.callApi())).toMatchObject({ status: 200 });
    // The new record is good: a tab opened after it adopts it without a request.
    const [next] = await openTabs(context, url, 1);
    expect(await inTab(next!, (harness) => harness.first)).toBe(token);
    expect(env.server.stats.tokenRequests).toBe(1);
    await tab!.close();
    await next!.close();
  }
  await context.close();
});
