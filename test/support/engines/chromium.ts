import type { Page } from 'playwright-core';
import { launchChromium } from '../chromium.js';
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

/** A bound on a hung launch, not a promise: Firefox took 40 s to start at load 40 (the suite runs beside others). */
const LAUNCH_TIMEOUT = 60_000;

/**
 * Debian's Chromium through playwright-core (CDP), headless: every page is its own visible window, the driver talks
 * to all at once, and `chrome://kill` crashes one renderer.
 */
export async function launchChromiumEngine(): Promise<Engine> {
  const browser = await bounded(launchChromium(), LAUNCH_TIMEOUT, 'chromium: launch');
  // One context for the engine: the suite keeps tests apart by origin (a fresh token server per test).
  const context = await browser.newContext();
  const wrap = (page: Page): EnginePage => {
    const evaluate = async <R, A>(task: ((arg: A) => R | Promise<R>) | string, arg?: A, timeout = EVALUATE_TIMEOUT): Promise<R> => {
      const answer = page.evaluate(
        ([runner, source, argJson, bound]) =>
          (new Function(`return (${runner})`)() as (s: string, a: string | undefined, t: number) => Promise<RunnerAnswer>)(source, argJson, bound),
        [RUNNER_SOURCE, sourceOf(task as never), arg === undefined ? undefined : JSON.stringify(arg), timeout] as const,
      );
      return unwrap<R>(await bounded(answer, timeout + DRIVER_GRACE, 'chromium: evaluate'), 'chromium');
    };
    return {
      evaluate,
      waitFor: (task, arg, timeout = WAIT_TIMEOUT) => pollUntil(() => evaluate(task, arg), timeout, 'chromium: waitFor'),
      close: () => bounded(page.close(), EVALUATE_TIMEOUT, 'chromium: close'),
      async crash() {
        await bounded(page.goto('chrome://kill').catch(() => undefined), EVALUATE_TIMEOUT, 'chromium: crash');
      },
    };
  };
  return {
    name: 'chromium',
    version: `Chromium ${browser.version()}`,
    supports: { crash: true, crashEndsDriver: false, concurrentCalls: true, serviceWorker: true },
    async open(url) {
      const page = await bounded(context.newPage(), EVALUATE_TIMEOUT, 'chromium: new page');
      await bounded(page.goto(url, { waitUntil: 'load' }), EVALUATE_TIMEOUT, `chromium: load ${url}`);
      return wrap(page);
    },
    async close() {
      await bounded(browser.close(), LAUNCH_TIMEOUT, 'chromium: close').catch(() => undefined);
    },
  };
}
