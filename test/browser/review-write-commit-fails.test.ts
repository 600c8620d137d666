import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

// The first token's write fails at its commit (here: the transaction aborted right after the put, as a full disk
// would fail it). getToken still answers with the token, the failure is reported once as `sharing_degraded`, the record
// stays as it was (empty), and the next tab gets the token from the leader, which holds it: no second request.
// (Written by the review of an IndexedDB write that answered before its commit, which did not land: a tab closed or
// navigating right after getToken lost the token, and the next tab fetched again. getToken answers after the commit.)
it('a write whose commit fails: the token is handed out, sharing_degraded reported, the record stays empty, 1 request', async () => {
  const client = env.server.addClient('write-commit-fails');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret });
  const [first] = await openTabs(context, url, 1);
  await first!.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function abortingOnce(this: IDBObjectStore, ...args: Parameters<typeof put>) {
      IDBObjectStore.prototype.put = put;
      const request = put.apply(this, args);
      this.transaction.abort();
      return request;
    };
  });
  const token = await inTab(first!, (harness) => harness.token());
  expect(token).toBeTruthy();
  await expect.poll(async () => (await logOf(first!)).filter((entry) => entry.event === 'error').map((entry) => entry.detail)).toEqual(['sharing_degraded']);
  expect(await inTab(first!, (harness) => harness.records())).toEqual([]);
  // The first tab still leads and answers the next one from memory: no second request.
  const [next] = await openTabs(context, url, 1);
  expect(await inTab(next!, (harness) => harness.token())).toBe(token);
  expect(env.server.stats.tokenRequests).toBe(1);
  await context.close();
});
