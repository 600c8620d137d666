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

const LAUNCH_TIMEOUT = 30_000;
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
  const ready = (async () => {
    for (;;) {
      try {
        if ((await fetch(`${url}/status`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  await bounded(Promise.race([ready, exited]), 10_000, 'webkit: WebKitWebDriver start');
}

/**
 * WebKitGTK's MiniBrowser through Debian's WebKitWebDriver and selenium-webdriver (WebDriver classic), on an Xvfb
 * display this engine starts and stops (MiniBrowser has no headless mode and hangs without a display). The driver
 * talks to one window at a time: calls are queued, each switches to its window first, and pages that must start
 * together are scheduled by wall clock (`together`). Pages open as windows (all visible). No crash: WebKitWebDriver
 * deletes the whole session when any page's web process dies ("session deleted because of page crash or hang").
 */
export async function launchWebKitEngine(): Promise<Engine> {
  const { display, process: xvfb } = await startDisplay();
  const port = await freePort();
  const server = `http://127.0.0.1:${port}`;
  const driverProcess = spawn('/usr/bin/WebKitWebDriver', [`--port=${port}`], { stdio: 'ignore', env: { ...process.env, DISPLAY: display } });
  const stopProcesses = (): void => {
    driverProcess.kill('SIGKILL');
    xvfb.kill('SIGKILL');
    process.off('exit', stopProcesses);
  };
  // Also when the test process ends without afterAll (a vitest timeout or abort): no display or driver left behind.
  process.once('exit', stopProcesses);
  let driver: WebDriver;
  try {
    await driverReady(server, driverProcess);
    const capabilities = new Capabilities({
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
    });
    driver = await bounded(new Builder().usingServer(server).withCapabilities(capabilities).build(), LAUNCH_TIMEOUT, 'webkit: new session');
    // The page bounds each task itself (RUNNER_SOURCE); the driver's own limit only catches a hung engine.
    await driver.manage().setTimeouts({ script: EVALUATE_TIMEOUT + DRIVER_GRACE, pageLoad: EVALUATE_TIMEOUT });
  } catch (error) {
    stopProcesses();
    throw error;
  }
  // The first window stays open (closing the last window would end the session) and is never used for a test.
  const home = await driver.getWindowHandle();
  let current = home;
  // One command at a time: a switch to a window and the command for it must not interleave with another page's.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>, timeout: number, what: string): Promise<T> => {
    const run = queue.then(() => bounded(work(), timeout, what));
    queue = run.catch(() => undefined);
    return run;
  };
  const switchTo = async (handle: string): Promise<void> => {
    if (current === handle) return;
    await driver.switchTo().window(handle);
    current = handle;
  };
  const userAgent = (await driver.executeScript('return navigator.userAgent')) as string;

  const wrap = (handle: string): EnginePage => {
    const evaluate = async <R, A>(task: ((arg: A) => R | Promise<R>) | string, arg?: A, timeout = EVALUATE_TIMEOUT): Promise<R> => {
      const answer = await serially(
        async () => {
          await switchTo(handle);
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
      evaluate,
      waitFor: (task, arg, timeout = WAIT_TIMEOUT) => pollUntil(() => evaluate(task, arg, 5_000), timeout, 'webkit: waitFor'),
      close: () =>
        serially(
          async () => {
            await switchTo(handle);
            await driver.close();
            await driver.switchTo().window(home);
            current = home;
          },
          EVALUATE_TIMEOUT,
          'webkit: close',
        ),
      crash: () => Promise.reject(new Error('webkit: crash is not supported (WebKitWebDriver ends the session when a web process dies)')),
    };
  };

  return {
    name: 'webkit',
    version: `WebKitGTK MiniBrowser (${userAgent.match(/AppleWebKit\/[\d.]+/)?.[0] ?? userAgent})`,
    supports: { crash: false, concurrentCalls: false, serviceWorker: true },
    open(url) {
      return serially(
        async () => {
          await driver.switchTo().newWindow('window');
          current = await driver.getWindowHandle();
          await driver.get(url);
          return wrap(current);
        },
        EVALUATE_TIMEOUT,
        `webkit: open ${url}`,
      );
    },
    async close() {
      await bounded(driver.quit(), 15_000, 'webkit: quit').catch(() => undefined);
      stopProcesses();
    },
  };
}
