import { it } from 'vitest';
import { ENGINES, togetherTimed } from '../support/engines/index.js';
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
    // Each page measures how late its own timers run while the moment is told and reached: the allowance is what this
    // machine delivered in this run (a fixed 250 ms failed at load 15–20: 292 ms in WebKit's web processes).
    for (const page of pages) await page.evaluate(startTimerLatenessProbe, PROBE_PERIOD);
    const { at, scheduled, results: starts } = await togetherTimed(pages, () => Date.now());
    const lateness: number[] = [];
    for (const page of pages) lateness.push(await page.evaluate(stopTimerLatenessProbe, PROBE_PERIOD));
    // Every page learned the moment before it came: a page told later would start when told, not at the moment.
    expect(scheduled.map((told) => told - at).filter((late) => !(late < 0))).toEqual([]);
    // Each page started at the moment, off by no more than its own timers were late meanwhile (and one probe period:
    // the probe's timer due just before a stall may have fired before it).
    const off = starts.map((start, index) => ({ off: start - at, allowed: lateness[index]! + PROBE_PERIOD }));
    expect(off.filter(({ off, allowed }) => !(Math.abs(off) <= allowed))).toEqual([]);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThanOrEqual(Math.max(...lateness) + PROBE_PERIOD);
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
    while ((env.reports.get(otherId)?.at ?? 0) < crashedAt + 1000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(env.reports.get(otherId)?.at).toBeGreaterThan(crashedAt + 1000);
    expect(env.reports.get(otherId)?.failures).toEqual([]);
    if (env.engine.supports.crashEndsDriver) await expect(other!.evaluate(() => 1)).rejects.toThrow('session ended');
    else await env.inTab(other!, (harness) => harness.stopReporting());
    const [next] = await env.tabs(1, {});
    expect(await next!.evaluate(() => location.pathname)).toBe('/tab.html');
  });
});

/** How often each page's timer-lateness probe is due (ms). */
const PROBE_PERIOD = 10;

/** In the page: a timer due every `period` ms that keeps the most any of them was late (sent as source). */
function startTimerLatenessProbe(period: number): void {
  const probe = { most: 0, due: Date.now() + period, timer: 0 as unknown };
  const tick = (): void => {
    const now = Date.now();
    probe.most = Math.max(probe.most, now - probe.due);
    probe.due = now + period;
    probe.timer = setTimeout(tick, period);
  };
  probe.timer = setTimeout(tick, period);
  (globalThis as unknown as { __timerLateness: typeof probe }).__timerLateness = probe;
}

/**
 * In the page: stops the probe after two more of its periods (so that a timer late across the moment has fired), and
 * says the most any of its timers was late (ms).
 */
async function stopTimerLatenessProbe(period: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 2 * period));
  const probe = (globalThis as unknown as { __timerLateness: { most: number; timer: ReturnType<typeof setTimeout> } }).__timerLateness;
  clearTimeout(probe.timer);
  return probe.most;
}
