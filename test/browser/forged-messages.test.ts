import { expect, it } from 'vitest';
import { FORMAT } from '../../src/sharing/browser/messages.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('malformed, foreign, stale, wrong-version and wrong-key messages are ignored and reported; nothing breaks', async () => {
  const client = env.server.addClient('forged');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 3);
  const [token] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));

  const before = await Promise.all(tabs.map((tab) => logOf(tab)));
  const forged = await inTab(tabs[0]!, (harness, v) => {
    const key = harness.key();
    const good = { accessToken: 'forged', tokenType: 'Bearer', expiresAt: Date.now() + 3_600_000, issuedAt: Date.now() };
    const messages: unknown[] = [
      'garbage',
      null,
      42,
      {},
      { v, key, type: 'no-such-type' },
      { v: v + 1, key, type: 'token', token: good }, // another format version
      { v: v - 1, key, type: 'token', token: good },
      { v, key: `${key}-other`, type: 'token', token: good }, // another credential
      { v, key, type: 'token', token: { ...good, issuedAt: 1 } }, // older than the current token
      { v, key, type: 'token', token: { ...good, accessToken: '' } },
      { v, key, type: 'token', token: { ...good, expiresAt: 'soon' } },
      { v, key, type: 'clear', at: 'now' },
      { v, key, type: 'failed', id: 'r1', code: 'closed' }, // a code a token request cannot have
      { v, key, type: 'failed', code: 'invalid_client' }, // answers no request
      { v, key, type: 'request' }, // asks without an id
      { v, key, type: 'election', data: { context: 'leader', action: 'usurp', token: 'x' } },
    ];
    for (const message of messages) harness.post(message);
    return messages.length;
  }, FORMAT);

  // Every tab reports each bad message once (the stale token is reported as stale), and keeps its token.
  for (const [index, tab] of tabs.entries()) {
    await expect.poll(async () => (await logOf(tab)).length).toBe(before[index]!.length + forged);
    const added = (await logOf(tab)).slice(before[index]!.length);
    expect(added.map((entry) => `${entry.event}:${String(entry.detail)}`)).toEqual(Array(forged).fill('error:invalid_message'));
    expect(await inTab(tab, (harness) => harness.token())).toBe(token);
    expect(await inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200, token });
  }
  expect(env.server.stats.tokenRequests).toBe(1);
  await context.close();
});
