import { it } from 'vitest';
import { FORMAT } from '../../src/sharing/browser/messages.js';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, errorsOf, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('malformed, foreign, stale, wrong-version and wrong-key messages are ignored and reported; nothing breaks', async ({ expect }) => {
    const client = env.server.addClient('forged');
    const tabs = await env.tabs(3, { client: client.id, secret: client.secret });
    const [token] = await env.inTabs(tabs, (harness) => harness.token());
    const before: number[] = [];
    for (const tab of tabs) before.push((await env.inTab(tab, (harness) => harness.log)).length);

    const forged = await env.inTab(
      tabs[0]!,
      (harness, v) => {
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
      },
      FORMAT,
    );

    // Every tab reports each bad message once, and keeps its token.
    for (const [index, tab] of tabs.entries()) {
      await tab.waitFor(
        (expected) => (globalThis as unknown as { harness: { log: unknown[] } }).harness.log.length >= expected,
        before[index]! + forged,
      );
      const added = (await env.inTab(tab, (harness) => harness.log)).slice(before[index]);
      expect(added.map((entry) => `${entry.event}:${String(entry.detail)}`)).toEqual(Array(forged).fill('error:invalid_message'));
      expect(await env.inTab(tab, (harness) => harness.token())).toBe(token);
      expect(await env.inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200, token });
    }
    expect(env.server.stats.tokenRequests).toBe(1);
  });

  it('a corrupt IndexedDB record is deleted and reported; the session authenticates once and stores a good one', async ({ expect }) => {
    const client = env.server.addClient('corrupt');
    const params = { client: client.id, secret: client.secret, auto: true };
    const [first] = await env.tabs(1, params);
    const before = await env.inTab(first!, (harness) => harness.first);
    await first!.close();

    // Another page of the origin (no session) damages the record in several ways, one after the other.
    const [tool] = await env.tabs(1, {});
    for (const damage of ['not a record', { v: FORMAT, key: 'someone else', token: { accessToken: 'x' } }, { v: FORMAT - 1 }, { v: 99 }]) {
      await env.inTab(tool!, (harness, value) => harness.corruptRecords(value), damage);
      env.server.resetStats();
      const [tab] = await env.tabs(1, params);
      const token = await env.inTab(tab!, (harness) => harness.first);
      expect(token).not.toBe(before);
      expect(env.server.stats.tokenRequests).toBe(1);
      expect(await errorsOf(env, tab!)).toEqual(['corrupt_storage']);
      expect(await env.inTab(tab!, (harness) => harness.callApi())).toMatchObject({ status: 200 });
      // The new record is good: a tab opened after it adopts it without a request.
      const [next] = await env.tabs(1, params);
      expect(await env.inTab(next!, (harness) => harness.first)).toBe(token);
      expect(env.server.stats.tokenRequests).toBe(1);
      await tab!.close();
      await next!.close();
    }
  });
});
