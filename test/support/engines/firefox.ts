import puppeteer, { type Page } from 'puppeteer-core';
import {
  bounded,
  type Engine,
  type EnginePage,
  EVALUATE_TIMEOUT,
  pollUntil,
  RUNNER_SOURCE,
  type RunnerAnswer,
  sourceOf,
  DRIVER_GRACE,
  unwrap,
  WAIT_TIMEOUT,
} from './engine.js';
import { appeared, descendants } from './processes.js';

/** A bound on a hung launch, not a promise: Firefox took 40 s to start at load 40 (the suite runs beside others). */
const LAUNCH_TIMEOUT = 60_000;

// No service-worker pref: http://127.0.0.1 is a potentially trustworthy origin, so Firefox registers service workers
// there as it is (`dom.serviceWorkers.testing.enabled` is not needed, and left off so the suite sees what users get).
const PREFS = {
  // One content process per page, none started in advance and none kept after its page closes: a page's process is
  // the one that appears when it loads, so killing it crashes that page alone (Firefox has no `chrome://kill`, and
  // WebDriver BiDi refuses to navigate to `about:crashcontent`).
  'dom.ipc.processCount.webIsolated': 64,
  'dom.ipc.processPrelaunch.enabled': false,
  'dom.ipc.keepProcessesAlive.webIsolated.perOrigin': 0,
};

/** Firefox's content processes (not its fork server), which descend from the browser process `root`. */
const contentProcesses = (root: number): Set<number> =>
  descendants(root, (args) => args.includes('-contentproc') && !args.includes('forkserver'));

/**
 * Debian's Firefox ESR through puppeteer-core over WebDriver BiDi, headless, with a fresh profile per launch. The
 * driver talks to all pages at once. A tab behind the front one is `hidden` (timers clamped to ≥ 1 s); a window is
 * visible.
 */
export async function launchFirefoxEngine(): Promise<Engine> {
  const browser = await bounded(
    puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, extraPrefsFirefox: PREFS, protocolTimeout: EVALUATE_TIMEOUT }),
    LAUNCH_TIMEOUT,
    'firefox: launch',
  );
  const parent = browser.process()?.pid;
  const context = await browser.createBrowserContext();
  // Pages open one after the other, so that the content process that appears belongs to the page that loads.
  let opening: Promise<unknown> = Promise.resolve();

  const wrap = (page: Page, pid: number | undefined): EnginePage => {
    const evaluate = async <R, A>(task: ((arg: A) => R | Promise<R>) | string, arg?: A, timeout = EVALUATE_TIMEOUT): Promise<R> => {
      const answer = page.evaluate(
        (runner: string, source: string, argJson: string | undefined, bound: number) =>
          (new Function(`return (${runner})`)() as (s: string, a: string | undefined, t: number) => Promise<RunnerAnswer>)(source, argJson, bound),
        RUNNER_SOURCE,
        sourceOf(task as never),
        arg === undefined ? undefined : JSON.stringify(arg),
        timeout,
      );
      return unwrap<R>(await bounded(answer, timeout + DRIVER_GRACE, 'firefox: evaluate'), 'firefox');
    };
    return {
      pid,
      evaluate,
      waitFor: (task, arg, timeout = WAIT_TIMEOUT) => pollUntil(() => evaluate(task, arg), timeout, 'firefox: waitFor'),
      close: () => bounded(page.close(), EVALUATE_TIMEOUT, 'firefox: close'),
      async crash() {
        if (pid === undefined) throw new Error('firefox: crash: no content process of its own was seen for this page');
        process.kill(pid, 'SIGKILL');
      },
    };
  };

  return {
    name: 'firefox',
    version: `Firefox ${(await browser.version()).replace(/^firefox\//, '')}`,
    supports: { crash: parent !== undefined, crashEndsDriver: false, concurrentCalls: true, serviceWorker: true },
    open(url, options = {}) {
      const opened = opening.then(async () => {
        const before = parent === undefined ? new Set<number>() : contentProcesses(parent);
        const page = await bounded(context.newPage(options.window ? { type: 'window' } : { type: 'tab' }), EVALUATE_TIMEOUT, 'firefox: new page');
        await bounded(page.goto(url, { waitUntil: 'load' }), EVALUATE_TIMEOUT, `firefox: load ${url}`);
        return wrap(page, parent === undefined ? undefined : appeared(before, contentProcesses(parent)));
      });
      opening = opened.catch(() => undefined);
      return opened;
    },
    async close() {
      await bounded(browser.close(), LAUNCH_TIMEOUT, 'firefox: close').catch(() => browser.process()?.kill('SIGKILL'));
    },
  };
}
