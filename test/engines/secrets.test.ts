import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, leaderOf, useEngine } from '../support/engines/suite.js';

// The scan of everything browser sharing keeps or sends, in every engine: every message any BroadcastChannel of
// every tab posted (recorded from before the first session), every record of every IndexedDB database of the origin,
// Web Storage, the Cache API, and the events the sessions emitted. README ("Security: what is stored where"): no
// client secret anywhere; a refresh token only in its own credential's IndexedDB record, for `refreshTokenGrant`.
describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('no client secret or refresh token on any channel; the refresh token only in its record, and gone after sign-out', async ({ expect }) => {
    const a = env.server.addClient('secrets-refresh-token');
    const b = env.server.addClient('secrets-client-credentials');
    const initial = env.server.issueRefreshToken(a.id);
    const tabs = await env.tabs(3, { client: a.id, secret: a.secret, rt: initial, client2: b.id, secret2: b.secret });

    // Cold start, a rejected token reported by a follower (a rotation by request), the leader closing (the successor
    // continues from the stored refresh token), and one more rotation by the new leader.
    await env.inTabs(tabs, (harness) => Promise.all([harness.token('a'), harness.token('b')]));
    const leader = await leaderOf(env, tabs);
    const follower = tabs[(leader + 1) % tabs.length]!;
    const first = await env.inTab(follower, (harness) => harness.token());
    const rotated = await env.inTab(follower, (harness, rejected) => harness.token('a', { rejected }), first);
    const closing = tabs[leader]!;
    // The leader closes once the rotation's answer is in its record: a follower hears the new token before the leader
    // has written it, and a leader closed in between loses the rotation, which signs every tab out by design
    // (test/browser/lost-rotation.test.ts; seen here once, in a Chromium kept from file to file).
    const stored = async (): Promise<boolean> =>
      (await env.inTab(closing, (harness) => harness.dumpIndexedDB())).some((line) => line.includes(rotated) && !line.includes('"rotating"'));
    await expect.poll(stored, { timeout: 10_000 }).toBe(true);
    const posted = await env.inTab(closing, (harness) => harness.posted());
    await closing.close();
    const survivors = tabs.filter((tab) => tab !== closing);
    await survivors[0]!.waitFor(() => (globalThis as unknown as { harness: { log: Array<{ event: string }> } }).harness.log.length > 0);
    const current = await env.inTab(survivors[0]!, (harness) => harness.token());
    await env.inTab(survivors[1]!, (harness, rejected) => harness.token('a', { rejected }), current);
    expect(env.server.stats.issuedByClient[a.id]).toBe(3);
    expect(env.server.stats.refreshTokenReuse).toBe(0);

    const keyA = await env.inTab(survivors[0]!, (harness) => harness.key('a'));
    const keyB = await env.inTab(survivors[0]!, (harness) => harness.key('b'));
    for (const tab of survivors) posted.push(...(await env.inTab(tab, (harness) => harness.posted())));
    // The scan is not vacuous: tokens of both credentials and a request went over the channels.
    expect(posted.some((message) => message.data.includes('"type":"token"') && message.data.includes(keyA))).toBe(true);
    expect(posted.some((message) => message.data.includes('"type":"token"') && message.data.includes(keyB))).toBe(true);
    expect(posted.some((message) => message.data.includes('"type":"request"'))).toBe(true);
    for (const message of posted) {
      expect(message.data).not.toContain('rt_');
      expect(message.data).not.toContain(a.secret);
      expect(message.data).not.toContain(b.secret);
    }

    const dump = await env.inTab(survivors[0]!, (harness) => harness.dumpIndexedDB());
    expect(dump).toHaveLength(2);
    for (const line of dump) {
      expect(line).not.toContain(a.secret);
      expect(line).not.toContain(b.secret);
    }
    const withRefreshToken = dump.filter((line) => line.includes('rt_'));
    expect(withRefreshToken).toHaveLength(1);
    const [location, json] = withRefreshToken[0]!.split(/: (.*)/s) as [string, string];
    expect(location).toBe('shared-session-v2/tokens');
    const record = JSON.parse(json) as { key: string; refreshToken?: string };
    expect(record.key).toBe(keyA);
    // Only in its own member, and it is the newest one: the initial one was rotated away twice.
    expect(record.refreshToken).toMatch(/^rt_[0-9a-f]+$/);
    expect(record.refreshToken).not.toBe(initial);
    expect(JSON.stringify({ ...record, refreshToken: undefined })).not.toContain('rt_');

    for (const tab of survivors) {
      const stored = await env.inTab(tab, (harness) => harness.otherStorage());
      for (const secret of [a.secret, b.secret, 'rt_']) expect(stored).not.toContain(secret);
      const events = JSON.stringify(await env.inTab(tab, (harness) => harness.log));
      for (const secret of [a.secret, b.secret, 'rt_']) expect(events).not.toContain(secret);
    }

    // A sign-out takes the refresh token out of storage too.
    await env.inTab(survivors[0]!, (harness) => harness.clear('a'));
    const after = await env.inTab(survivors[1]!, (harness) => harness.dumpIndexedDB());
    expect(after.filter((line) => line.includes('rt_'))).toEqual([]);
  });
});
