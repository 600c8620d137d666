import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, useEngine } from '../support/engines/suite.js';

// The harness itself, in each engine: what the suite relies on when it writes a test once.
describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('evaluates with a JSON argument, surfaces page errors, and bounds a task that never settles', async ({ expect }) => {
    const [page] = await env.tabs(1, {});
    expect(await page!.evaluate((arg: { n: number }) => ({ doubled: arg.n * 2 }), { n: 21 })).toEqual({ doubled: 42 });
    expect(await page!.evaluate(async () => undefined)).toBeUndefined();
    await expect(page!.evaluate(() => Promise.reject(new Error('from the page')))).rejects.toThrow(`${name} page: from the page`);
    const started = Date.now();
    await expect(page!.evaluate(() => new Promise(() => undefined), undefined, 500)).rejects.toThrow('did not settle within 500 ms');
    await expect(page!.waitFor(() => false, undefined, 500)).rejects.toThrow('not true within 500 ms');
    expect(Date.now() - started).toBeLessThan(8_000);
    // The engine goes on after both.
    expect(await page!.evaluate(() => location.pathname)).toBe('/tab.html');
  });

  it('starts several pages at one moment of the wall clock, though the driver may talk to one at a time', async ({ expect }) => {
    const pages = await env.tabs(3, {}, { window: true });
    const starts = await env.inTabs(pages, (harness) => harness.now());
    // Windows are all visible, so no timer of theirs is clamped: the starts are within a few tens of ms.
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(250);
    for (const page of pages) expect(await env.inTab(page, (harness) => harness.visibility())).toBe('visible');
  });

  it('crashes one page: another runs on (seen through the server), and the engine opens pages afterwards', async ({ expect }) => {
    const client = env.server.addClient('harness-crash');
    const [victim, other] = await env.tabs(2, { client: client.id, secret: client.secret });
    const otherId = await env.inTab(other!, (harness) => harness.reportId);
    await env.inTab(other!, (harness) => harness.startReporting(100));
    await victim!.crash();
    const crashedAt = Date.now();
    const deadline = crashedAt + 10_000;
    while ((env.reports.get(otherId)?.at ?? 0) <= crashedAt + 1000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(env.reports.get(otherId)?.at).toBeGreaterThan(crashedAt + 1000);
    expect(env.reports.get(otherId)?.failures).toEqual([]);
    if (env.engine.supports.crashEndsDriver) await expect(other!.evaluate(() => 1)).rejects.toThrow('session ended');
    else await env.inTab(other!, (harness) => harness.stopReporting());
    const [next] = await env.tabs(1, {});
    expect(await next!.evaluate(() => location.pathname)).toBe('/tab.html');
  });
});
