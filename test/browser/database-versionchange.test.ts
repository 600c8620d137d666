import { expect, it } from 'vitest';
import { DATABASE } from '../../src/sharing/browser/messages.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

// A session's IndexedDB connection closes on `versionchange` and reopens on its next use, so deleting or upgrading
// the database (an app's "wipe local data" on sign-out, a later release migrating it) is never blocked by open tabs,
// and a tab opened meanwhile neither stalls on IndexedDB nor gives up on storage.
it('an open session lets another page delete its database; a tab opened then gets the token at once and keeps storage', async () => {
  const client = env.server.addClient('idb-versionchange');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true });
  const [tab] = await openTabs(context, url, 1);
  const token = await inTab(tab!, (harness) => harness.first);

  // Another page of the app deletes the database (no session there).
  const [tool] = await openTabs(context, tabUrl(env.server.origin, {}), 1);
  const deletion = await tool!.evaluate(
    (database) =>
      new Promise<string[]>((resolve) => {
        const events: string[] = [];
        const request = indexedDB.deleteDatabase(database);
        request.onblocked = () => events.push('blocked');
        request.onsuccess = () => resolve([...events, 'deleted']);
        request.onerror = () => resolve([...events, 'error']);
        setTimeout(() => resolve([...events, 'still pending after 2 s']), 2000);
      }),
    DATABASE,
  );

  // A tab opened now.
  const started = Date.now();
  const [late] = await openTabs(context, url, 1);
  const lateToken = await inTab(late!, (harness) => harness.first);
  const ms = Date.now() - started;
  const lateErrors = (await logOf(late!)).filter((entry) => entry.event === 'error').map((entry) => entry.detail);

  // The session closed its connection on versionchange, the deletion completed, the late tab got the token at once
  // and keeps using IndexedDB.
  expect.soft(deletion).toEqual(['deleted']);
  expect.soft(lateErrors).toEqual([]);
  expect.soft(ms).toBeLessThan(2000);
  expect(lateToken).toBe(token);
  await context.close();
});
