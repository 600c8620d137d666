import type { AppHarness } from '../oidc-app.js';
import { loginForm } from '../openid-provider.js';
import type { Engine, EnginePage } from './engine.js';

/** Runs `task(app, arg)` in the page's app harness (`task` goes as source: only its arguments and globals). */
export function inApp<R, A = undefined>(page: EnginePage, task: (app: AppHarness, arg: A) => R | Promise<R>, arg?: A, timeout?: number): Promise<R> {
  return page.evaluate<R, A>(`(arg) => (${task.toString()})(globalThis.app, arg)`, arg, timeout);
}

/** Polls `check` in the page until it is true, through navigations (a page between documents answers with an error). */
export async function until(page: EnginePage, check: string, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      if ((await page.evaluate<boolean>(`() => Boolean(${check})`, undefined, 5_000)) === true) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`not true within ${timeout} ms: ${check} (${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Opens the app page (a window: visible, timers not throttled) and waits until `ready` has settled; returns how. */
export async function openApp(engine: Engine, url: string): Promise<{ page: EnginePage; ready: string }> {
  const page = await engine.open(url, { window: true });
  await until(page, `'app' in globalThis`);
  return { page, ready: await inApp(page, (app) => app.ready) };
}

/** The user clicks "Sign in", types a user name into the provider's login form, submits, and is back on the app. */
export async function userSignsIn(page: EnginePage, login: string): Promise<string> {
  await page.evaluate(() => void document.getElementById('sign-in')!.click());
  await until(page, `document.querySelector(${JSON.stringify(loginForm.login)})`);
  await page.evaluate(
    (arg: { login: string; form: typeof loginForm }) => {
      (document.querySelector(arg.form.login) as HTMLInputElement).value = arg.login;
      (document.querySelector(arg.form.submit) as HTMLButtonElement).click();
    },
    { login, form: loginForm },
  );
  await until(page, `location.pathname === '/app.html' && location.search === '' && 'app' in globalThis`);
  return inApp(page, (app) => app.ready);
}

/**
 * Page script: starts the worker fixture at `url` as a dedicated worker of the page (`kind: 'worker'`) or registers it
 * as the origin's service worker, and asks it for a token and an API call every `pause` ms, posting each answer with
 * the worker's name to the app's `/report` (observable after the driver lost the pages), until the page dies.
 */
export const START_REPORTING_WORKER = `async ({ url, kind, name, pause }) => {
  let ask;
  if (kind === 'worker') {
    const worker = new Worker(url, { type: 'module' });
    ask = () => new Promise((resolve) => {
      worker.addEventListener('message', (event) => resolve(event.data), { once: true });
      worker.postMessage('token');
    });
  } else {
    await navigator.serviceWorker.register(url, { type: 'module', scope: '/' });
    const registration = await navigator.serviceWorker.ready;
    ask = () => new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => resolve(event.data);
      registration.active.postMessage('token', [channel.port2]);
    });
  }
  void (async () => {
    for (;;) {
      const answer = await ask();
      void fetch('/report', { method: 'POST', body: JSON.stringify({ context: name, ...answer }) }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  })();
}`;
