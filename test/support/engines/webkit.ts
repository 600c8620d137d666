import { type ChildProcess, spawn } from 'node:child_process';
import { Builder, Capabilities, type WebDriver } from 'selenium-webdriver';
import { freePort } from '../free-port.js';
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
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** Starts `Xvfb` on a display number it picks itself (`-displayfd`, no race with other displays) and returns it. */
async function startDisplay(): Promise<{ display: string; process: ChildProcess }> {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  xvfb.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const number = new Promise<string>((resolve, reject) => {
    let written = '';
    (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      written += chunk.toString();
      if (written.includes('\n')) resolve(written.trim());
    });
    xvfb.once('error', reject);
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited with ${code}: ${stderr.trim()}`)));
  });
  try {
    return { display: `:${await bounded(number, 10_000, 'webkit: Xvfb')}`, process: xvfb };
  } catch (error) {
    xvfb.kill('SIGKILL');
    throw error;
  }
}

/** Waits until WebKitWebDriver answers `/status`. */
async function driverReady(url: string, driver: ChildProcess): Promise<void> {
  const exited = new Promise<never>((_, reject) => driver.once('exit', (code) => reject(new Error(`WebKitWebDriver exited with ${code}`))));
  let waiting = true;
  const ready = (async () => {
    while (waiting) {
      try {
        if ((await fetch(`${url}/status`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    await bounded(Promise.race([ready, exited]), 10_000, 'webkit: WebKitWebDriver start');
  } finally {
    waiting = false;
  }
}

/** WebKit's web processes (one per window), and MiniBrowser itself, among WebKitWebDriver's descendants. */
const isWebProcess = (args: readonly string[]): boolean => args[0]?.endsWith('/WebKitWebProcess') === true;
const isMiniBrowser = (args: readonly string[]): boolean => args[0] === MINIBROWSER;

/** One WebDriver session: one MiniBrowser, whose first window stays open (closing the last one ends the session). */
interface Session {
  readonly driver: WebDriver;
  readonly home: string;
  current: string;
  /** Set when a page's web process was killed: WebKitWebDriver has deleted the session. */
  lost: boolean;
  queue: Promise<unknown>;
}

/**
 * WebKitGTK's MiniBrowser through Debian's WebKitWebDriver and selenium-webdriver (WebDriver classic), on an Xvfb
 * display this engine starts and stops (MiniBrowser has no headless mode and hangs without a display). The driver
 * talks to one window at a time: calls are queued, each switches to its window first, and pages that must start
 * together are scheduled by wall clock (`together`). Pages open as windows (all visible), each with a web process of
 * its own. A crash kills that process; WebKitWebDriver then deletes the whole session ("session deleted because of
 * page crash or hang") while MiniBrowser and the other pages run on: they can only be observed through the server
 * from then on (`supports.crashEndsDriver`), and the next `open` starts a new session.
 */
export async function launchWebKitEngine(): Promise<Engine> {
  const { display, process: xvfb } = await startDisplay();
  const port = await freePort();
  const server = `http://127.0.0.1:${port}`;
  const driverProcess = spawn('/usr/bin/WebKitWebDriver', [`--port=${port}`], { stdio: 'ignore', env: { ...process.env, DISPLAY: display } });
  const killBrowsers = (): void => {
    if (driverProcess.pid === undefined) return;
    for (const pid of descendants(driverProcess.pid, isMiniBrowser)) process.kill(pid, 'SIGKILL');
  };
  const stopProcesses = (): void => {
    killBrowsers();
    driverProcess.kill('SIGKILL');
    xvfb.kill('SIGKILL');
    process.off('exit', stopProcesses);
  };
  // Also when the test process ends without afterAll (a vitest timeout or abort): no display or driver left behind.
  process.once('exit', stopProcesses);

  const newSession = async (): Promise<Session> => {
    const capabilities = new Capabilities({
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
    });
    const driver = await bounded(new Builder().usingServer(server).withCapabilities(capabilities).build(), LAUNCH_TIMEOUT, 'webkit: new session');
    // The page bounds each task itself (RUNNER_SOURCE); the driver's own limit only catches a hung engine.
    await driver.manage().setTimeouts({ script: EVALUATE_TIMEOUT + DRIVER_GRACE, pageLoad: EVALUATE_TIMEOUT });
    const home = await driver.getWindowHandle();
    return { driver, home, current: home, lost: false, queue: Promise.resolve() };
  };
  let session: Session;
  let userAgent: string;
  try {
    await driverReady(server, driverProcess);
    session = await newSession();
    userAgent = (await session.driver.executeScript('return navigator.userAgent')) as string;
  } catch (error) {
    stopProcesses();
    throw error;
  }

  // One command at a time: a switch to a window and the command for it must not interleave with another page's.
  const serially = <T>(owner: Session, work: (driver: WebDriver) => Promise<T>, timeout: number, what: string): Promise<T> => {
    const run = owner.queue.then(() => {
      if (owner.lost) throw new Error(`${what}: the driver's session ended when a page crashed (observe the other pages through the server)`);
      return bounded(work(owner.driver), timeout, what);
    });
    owner.queue = run.catch(() => undefined);
    return run;
  };
  const switchTo = async (owner: Session, handle: string): Promise<void> => {
    if (owner.current === handle) return;
    await owner.driver.switchTo().window(handle);
    owner.current = handle;
  };

  const wrap = (owner: Session, handle: string, pid: number | undefined): EnginePage => {
    const evaluate = async <R, A>(task: ((arg: A) => R | Promise<R>) | string, arg?: A, timeout = EVALUATE_TIMEOUT): Promise<R> => {
      const answer = await serially(
        owner,
        async (driver) => {
          await switchTo(owner, handle);
          return (await driver.executeAsyncScript(
            `const done = arguments[arguments.length - 1]; (${RUNNER_SOURCE})(arguments[0], arguments[1], arguments[2]).then(done);`,
            sourceOf(task as never),
            arg === undefined ? null : JSON.stringify(arg),
            timeout,
          )) as RunnerAnswer;
        },
        timeout + DRIVER_GRACE,
        'webkit: evaluate',
      );
      return unwrap<R>(answer, 'webkit');
    };
    return {
      pid,
      evaluate,
      waitFor: (task, arg, timeout = WAIT_TIMEOUT) => pollUntil(() => evaluate(task, arg, 5_000), timeout, 'webkit: waitFor'),
      close: () =>
        serially(
          owner,
          async (driver) => {
            await switchTo(owner, handle);
            await driver.close();
            await driver.switchTo().window(owner.home);
            owner.current = owner.home;
          },
          EVALUATE_TIMEOUT,
          'webkit: close',
        ),
      crash: () =>
        serially(
          owner,
          async () => {
            if (pid === undefined) throw new Error('webkit: crash: no web process of its own was seen for this page');
            process.kill(pid, 'SIGKILL');
            owner.lost = true;
          },
          EVALUATE_TIMEOUT,
          'webkit: crash',
        ),
    };
  };

  return {
    name: 'webkit',
    version: `WebKitGTK MiniBrowser (${userAgent.match(/AppleWebKit\/[\d.]+/)?.[0] ?? userAgent})`,
    supports: { crash: true, crashEndsDriver: true, concurrentCalls: false, serviceWorker: true },
    // Windows unless asked for a tab (`window: false`): the driver's switching never brings a tab to the front, so
    // a tab opened behind the first stays `hidden`.
    async open(url, options = {}) {
      if (session.lost) {
        // WebKitWebDriver lets the crashed session go only when asked (one session at a time), and its MiniBrowser
        // still runs the other pages: end both, and start afresh.
        await bounded(session.driver.quit(), 10_000, 'webkit: end the crashed session').catch(() => undefined);
        killBrowsers();
        session = await newSession();
      }
      const owner = session;
      return serially(
        owner,
        async (driver) => {
          const before = descendants(driverProcess.pid!, isWebProcess);
          await driver.switchTo().newWindow(options.window === false ? 'tab' : 'window');
          owner.current = await driver.getWindowHandle();
          await driver.get(url);
          return wrap(owner, owner.current, appeared(before, descendants(driverProcess.pid!, isWebProcess)));
        },
        EVALUATE_TIMEOUT,
        `webkit: open ${url}`,
      );
    },
    async close() {
      await bounded(session.driver.quit(), 15_000, 'webkit: quit').catch(() => undefined);
      stopProcesses();
    },
  };
}
