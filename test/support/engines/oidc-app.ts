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

/**
 * Opens `count` app pages side by side: the driver opens them in turn, while each page's loading and `ready` overlap
 * the next ones' (one after the other, 8 pages took 60 s at load 25). Returns them in the order asked, each with how
 * its `ready` settled; `opened` is told of each page as soon as it exists, so that a test closes them whatever fails.
 */
export function openApps(engine: Engine, url: string, count: number, opened: (page: EnginePage) => void = () => undefined): Promise<Array<{ page: EnginePage; ready: string }>> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const page = await engine.open(url, { window: true });
      opened(page);
      await until(page, `'app' in globalThis`);
      return { page, ready: await inApp(page, (app) => app.ready) };
    }),
  );
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
 * the worker's name to the app's `/report` (observable after the driver lost the pages), until the page dies. Each
 * question has a port of its own, so a late answer never answers a later question; one not answered within
 * `answerWithin` ms (default 20 000) is reported as `{ unanswered: true, askedAt }` and the worker is asked again (a
 * worker killed with the process it ran in never answers; the browser starts a service worker again when asked); if
 * its answer comes after all, it is reported too, with `overdue: true`. Every answer carries its question's `askedAt`.
 */
export const START_REPORTING_WORKER = `async ({ url, kind, name, pause, answerWithin = 20000 }) => {
  let target;
  if (kind === 'worker') {
    target = new Worker(url, { type: 'module' });
  } else {
    await navigator.serviceWorker.register(url, { type: 'module', scope: '/' });
    target = (await navigator.serviceWorker.ready).active;
  }
  const post = (answer) => void fetch('/report', { method: 'POST', body: JSON.stringify({ context: name, ...answer }) }).catch(() => undefined);
  const ask = () => new Promise((resolve) => {
    const askedAt = Date.now();
    const channel = new MessageChannel();
    let overdue = false;
    const timer = setTimeout(() => {
      overdue = true;
      resolve({ unanswered: true, askedAt });
    }, answerWithin);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      // An answer after the question was given up is reported too, marked: it was slow, not lost.
      if (overdue) post({ ...event.data, askedAt, overdue: true });
      else resolve({ ...event.data, askedAt });
    };
    target.postMessage('token', [channel.port2]);
  });
  void (async () => {
    for (;;) {
      post(await ask());
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  })();
}`;

/**
 * Page script: resolves once no refresh-token rotation is in flight and the stored token is at most `fresh` ms old
 * (so that the next refresh ahead of expiry is still ahead), read from the credential's IndexedDB record as any context
 * reads it; rejects after `within` ms. A context killed between sending its refresh token and storing the answer loses
 * that rotation for every context (by design every context is then signed out, nothing re-sent:
 * test/browser/lost-rotation.test.ts); a test that means to kill a leader outside a rotation waits for this first.
 */
export const UNTIL_NO_ROTATION = `async ({ key, fresh, within }) => {
  const deadline = Date.now() + within;
  const db = await new Promise((resolve, reject) => {
    const opening = indexedDB.open('shared-session-v2');
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => resolve(opening.result);
  });
  try {
    for (;;) {
      const records = await new Promise((resolve, reject) => {
        const reading = db.transaction('tokens', 'readonly').objectStore('tokens').getAll();
        reading.onerror = () => reject(reading.error);
        reading.onsuccess = () => resolve(reading.result);
      });
      const record = records.find((entry) => entry && entry.key === key);
      const now = Date.now();
      if (record && record.token && record.rotating === undefined && now - record.token.issuedAt <= fresh) return now - record.token.issuedAt;
      if (now > deadline) throw new Error('a rotation was in flight, or the token older than ' + fresh + ' ms, for ' + within + ' ms: ' + JSON.stringify(record && { rotating: record.rotating, age: record.token && now - record.token.issuedAt }));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    db.close();
  }
}`;
