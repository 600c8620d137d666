/**
 * One small interface over the three browser engines the suite in `test/engines/` runs in (Chromium, Firefox,
 * WebKit), so that a test is written once. Every launch and every call is bounded: a hung engine fails the test with a
 * message that names the engine and the step, never hangs vitest.
 */

export type EngineName = 'chromium' | 'firefox' | 'webkit';

/** A task sent to a page as source: it may use only its argument and the page's globals. Results travel as JSON. */
export type PageTask<R, A> = (arg: A) => R | Promise<R>;

export interface EngineSupports {
  /** A page's renderer/content/web process can be killed while the others (and the driver) go on. */
  readonly crash: boolean;
  /**
   * After a crash the driver no longer reaches the other pages (they run on): a test observes them through the
   * server from then on, and the next `open` starts afresh (WebKit).
   */
  readonly crashEndsDriver: boolean;
  /** The driver can talk to several pages at once (CDP, BiDi). WebDriver classic talks to one window at a time. */
  readonly concurrentCalls: boolean;
  /** A service worker registers and answers on http://127.0.0.1. */
  readonly serviceWorker: boolean;
}

export interface OpenOptions {
  /**
   * A new window instead of a tab: every window is visible, while a tab behind the front one is `hidden`. The
   * default is a tab, except in WebKit (a window; `false` asks for a tab there).
   */
  readonly window?: boolean;
}

export interface EnginePage {
  /** Runs `task(arg)` in the page (awaiting a promise); rejects after `timeout` ms (default 30 s). */
  evaluate<R, A = undefined>(task: PageTask<R, A> | string, arg?: A, timeout?: number): Promise<R>;
  /** Polls `task(arg)` in the page until it is truthy; rejects after `timeout` ms (default 15 s). */
  waitFor<A = undefined>(task: PageTask<unknown, A> | string, arg?: A, timeout?: number): Promise<void>;
  /** Closes the page as a user closing the tab would (unload handlers run). */
  close(): Promise<void>;
  /** Kills the page's process, as an out-of-memory kill would: no unload handler runs. Only if `supports.crash`. */
  crash(): Promise<void>;
  /** The page's own content/web process, where the engine gives each page one (what `crash` kills). */
  readonly pid?: number | undefined;
}

export interface Engine {
  readonly name: EngineName;
  /** e.g. `Chromium 156.0.…`, `Firefox 153.8.0esr`, `WebKitGTK (MiniBrowser, Safari 605.1.15)` */
  readonly version: string;
  readonly supports: EngineSupports;
  /** Opens `url` in a new page and waits for its `load` event. */
  open(url: string, options?: OpenOptions): Promise<EnginePage>;
  /** Closes every page and stops every process the engine started (browser, driver, display). */
  close(): Promise<void>;
}

/** Default bounds of one call into a page and of one wait. */
export const EVALUATE_TIMEOUT = 30_000;
export const WAIT_TIMEOUT = 15_000;

/** `promise`, or a rejection naming `what` after `ms` ms. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (the engine hangs?)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How much longer than a page's own bound the driver waits before it calls the engine hung. */
export const DRIVER_GRACE = 5_000;

/**
 * The page-side runner every driver sends: compiles the task from its source, bounds it by the page's own timer and
 * answers `{ json }` or `{ error }`, so that results and failures look the same in every engine (`undefined` comes
 * back as `undefined`). The driver waits `DRIVER_GRACE` longer: no answer by then means the engine itself hangs.
 */
export const RUNNER_SOURCE = `async (source, argJson, timeout) => {
  let timer;
  try {
    const task = new Function('arg', 'return (' + source + ')(arg);');
    const expired = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the task did not settle within ' + timeout + ' ms')), timeout);
    });
    const value = await Promise.race([task(argJson === undefined || argJson === null ? undefined : JSON.parse(argJson)), expired]);
    return { json: value === undefined ? undefined : JSON.stringify(value) };
  } catch (error) {
    return { error: String(error && error.stack ? error.message + '\\n' + error.stack : error) };
  } finally {
    clearTimeout(timer);
  }
}`;

export interface RunnerAnswer {
  readonly json?: string | null;
  readonly error?: string | null;
}

/** The value of a runner's answer, or the page's error as a thrown Error. */
export function unwrap<R>(answer: RunnerAnswer, engine: EngineName): R {
  // WebDriver classic turns a missing member into null.
  if (typeof answer.error === 'string') throw new Error(`${engine} page: ${answer.error}`);
  return (typeof answer.json === 'string' ? JSON.parse(answer.json) : undefined) as R;
}

export function sourceOf(task: PageTask<unknown, never> | string): string {
  return typeof task === 'string' ? task : task.toString();
}

/** Polls an evaluation until it is truthy, bounded; shared by the drivers. */
export async function pollUntil(check: () => Promise<unknown>, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    last = await check();
    if (last) return;
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeout} ms (last value ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs `task` in every page at one moment of the shared wall clock, and returns each page's result. With WebDriver
 * classic (one window at a time) this is the only way to start several pages together: each call only schedules, and
 * the results are collected afterwards. The moment is far enough ahead for the driver to reach every page before it:
 * `lead` ms at least, and three times what one driver call to each page took just before (a loaded machine's driver
 * took 1 s for three pages, past a fixed 750 ms lead, and the last page started 292 ms late). A page the driver still
 * reaches after the moment starts at once: a test about the start spread sees it; failing the call instead failed
 * tests whose promise is not about the spread (a WebKit driver 221 ms late beside two CPU hogs, cold start).
 */
export async function together<R, A>(pages: readonly EnginePage[], task: PageTask<R, A> | string, arg?: A, lead = 300 + 150 * pages.length): Promise<R[]> {
  const id = `together-${Math.random().toString(36).slice(2)}`;
  const measured = Date.now();
  for (const page of pages) await page.evaluate(() => 0);
  const at = Date.now() + Math.max(lead, 3 * (Date.now() - measured));
  const schedule = `(arg) => {
    const slots = (globalThis.__together ??= {});
    const task = ${sourceOf(task as PageTask<unknown, never>)};
    slots[arg.id] = new Promise((resolve) => setTimeout(resolve, Math.max(0, arg.at - Date.now())))
      .then(() => task(arg.value))
      .then((value) => ({ value }), (error) => ({ error: String(error) }));
  }`;
  for (const page of pages) await page.evaluate(schedule, { id, at, value: arg });
  const results: R[] = [];
  for (const page of pages) {
    const outcome = await page.evaluate<{ value?: R; error?: string }, string>(
      (slot) => (globalThis as unknown as { __together: Record<string, Promise<{ value?: R; error?: string }>> }).__together[slot]!,
      id,
    );
    if (outcome.error !== undefined) throw new Error(`together: a page failed: ${outcome.error}`);
    results.push(outcome.value as R);
  }
  return results;
}
