import type { BrowserContext, Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn, waitForApp } from '../support/oidc-app.js';

/**
 * A tab opened while the sign-in's IndexedDB is slow to answer (a busy machine) in real Chromium: another page of the
 * origin holds a readwrite transaction on the `users` store, so the new tab's read of who signed in waits behind it.
 * A read that answers after its 3 s bound is made again: the tab ends signed in as the same user, from storage and
 * with no request to the provider (before, it showed the signed-in user as signed out for good). A database that
 * answers no read at all: the tab's `ready` and `getToken` still settle, typed, without waiting for the database.
 */
const env = useOidcApp();

const DATABASE = 'shared-session-oidc-v1';
/**
 * Held this long past the first read's start: longer than a read's bound (`STORAGE_TIMEOUT`, 3 s, of
 * src/oidc/storage.ts), shorter than two (the read made again is answered).
 */
const SLOW_READ = 4_500;
/** A hang guard only: the held transaction ends by itself after this long, whatever the test does. */
const HOLD_CAP = 60_000;
/** A hang guard only, for what follows a release: B reads the answered record and the shared token, no request. */
const SIGNED_IN_GUARD = 20_000;

interface Watched {
  userReads: number[];
}

/**
 * Before `page` loads: records (by the page's clock) each readonly transaction of the page on the sign-in database's
 * `users` store, that is each read of who signed in. It only observes: the transaction is made as it would be.
 */
async function watchUserReads(page: Page): Promise<void> {
  await page.addInitScript((database: string) => {
    const watched = { userReads: [] as number[] };
    (globalThis as unknown as { watched: typeof watched }).watched = watched;
    const transaction = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function watchedTransaction(this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      const [stores, mode] = args;
      const names = typeof stores === 'string' ? [stores] : [...stores];
      if (this.name === database && names.includes('users') && (mode ?? 'readonly') === 'readonly') watched.userReads.push(performance.now());
      return transaction.apply(this, args);
    };
  }, DATABASE);
}

const userReads = (page: Page): Promise<number[]> => page.evaluate(() => (globalThis as unknown as { watched: Watched }).watched.userReads);

interface Hold {
  state: 'holding' | 'committed' | 'failed';
  /** Requests made in the transaction to keep it alive. */
  requests: number;
}

/**
 * In `holder` (a page of the app's origin): a readwrite transaction on the `users` store, kept alive by one `get`
 * after another until `release(holder)` (or `HOLD_CAP`), then let commit. A readonly transaction on the store waits
 * behind it. Resolves once the transaction holds the store.
 */
async function holdUsersStore(holder: Page): Promise<void> {
  await holder.evaluate(
    ({ database, cap }) =>
      new Promise<void>((resolve, reject) => {
        const hold = { state: 'holding', requests: 0, release: false };
        (globalThis as unknown as { hold: typeof hold }).hold = hold;
        const opening = indexedDB.open(database);
        opening.onerror = () => reject(opening.error);
        opening.onsuccess = () => {
          const db = opening.result;
          const transaction = db.transaction('users', 'readwrite');
          const store = transaction.objectStore('users');
          const until = performance.now() + cap;
          const next = (): void => {
            hold.requests++;
            const request = store.get('held');
            request.onsuccess = () => {
              if (hold.requests === 1) resolve();
              // No request left once released: the transaction commits.
              if (!hold.release && performance.now() < until) next();
            };
          };
          next();
          transaction.oncomplete = () => {
            hold.state = 'committed';
            db.close();
          };
          transaction.onabort = transaction.onerror = () => {
            hold.state = 'failed';
            reject(transaction.error);
          };
        };
      }),
    { database: DATABASE, cap: HOLD_CAP },
  );
}

const holdState = (holder: Page): Promise<Hold> =>
  holder.evaluate(() => {
    const { state, requests } = (globalThis as unknown as { hold: Hold }).hold;
    return { state, requests };
  });

/** Lets the held transaction commit, and waits until it has. */
async function release(holder: Page): Promise<void> {
  await holder.evaluate(() => void ((globalThis as unknown as { hold: { release: boolean } }).hold.release = true));
  await holder.waitForFunction(() => (globalThis as unknown as { hold: Hold }).hold.state !== 'holding', undefined, { timeout: HOLD_CAP });
  expect((await holdState(holder)).state).toBe('committed');
}

/** Tab A signed in through the provider's form, with a token that outlives the test however slow the machine. */
async function signedInTab(context: BrowserContext): Promise<{ tab: Page; token: string }> {
  env.op.accessTokenTtl = 3_600;
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!, 'ada.lovelace')).toBe('ok');
  expect(await inApp(tab!, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'ada.lovelace' } });
  return { tab: tab!, token: await inApp(tab!, (app) => app.token()) };
}

/** Opens the app in a new tab of `context`, its reads of who signed in watched, without waiting for `ready`. */
async function openWatchedTab(context: BrowserContext): Promise<Page> {
  const tab = await context.newPage();
  await watchUserReads(tab);
  await tab.goto(env.appUrl);
  await tab.waitForFunction(() => 'app' in globalThis);
  return tab;
}

/**
 * Tab A signed in, then tab B opened while another page of the origin holds the users store: the provider's counts
 * before B, and the page that holds the store (for its release).
 */
async function tabBesideHeldStore() {
  const context = await env.browser.newContext();
  const a = await signedInTab(context);
  const before = { ...env.op.counts };
  const holder = await context.newPage();
  await holder.goto(`${env.origin}/blank.html`);
  await holdUsersStore(holder);

  const b = await openWatchedTab(context);
  return { context, a, before, holder, b };
}

it('a tab opened while the users store is held past a read\'s 3 s bound ends signed in as the same user: no request to the provider', async () => {
  const { context, a, before, holder, b } = await tabBesideHeldStore();
  // Held until B's first read of who signed in is SLOW_READ old by B's clock: past its bound (its timer started before
  // it), whatever the time B took to load; a read made again at its bound is answered by the release.
  await b.waitForFunction(
    (slow) => {
      const reads = (globalThis as unknown as { watched: Watched }).watched.userReads;
      return reads.length > 0 && performance.now() >= reads[0]! + slow;
    },
    SLOW_READ,
    { timeout: HOLD_CAP, polling: 100 },
  );
  // Still held (not committed early), so the reads above did wait behind it.
  expect(await holdState(holder)).toMatchObject({ state: 'holding' });
  await release(holder);

  // B: signed in as Ada, told by its `signed-in` event, with the session's token; A still signed in.
  expect(await waitForApp(b)).toBe('ok');
  // B is signed in once its read is answered, right after the release (a guard only: the assertions below say why not).
  await b
    .waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn, undefined, { timeout: SIGNED_IN_GUARD })
    .catch(() => undefined);
  const reads = await userReads(b);
  const log = await inApp(b, (app) => app.log);
  const story = JSON.stringify({ reads: reads.map((start) => Math.round(start - reads[0]!)), log });
  expect(await inApp(b, (app) => app.state()), story).toMatchObject({ signedIn: true, user: { sub: 'ada.lovelace', name: 'Ada Lovelace' } });
  expect(log.filter((entry) => entry.event === 'signed-in').map((entry) => entry.detail), story).toEqual(['ada.lovelace']);
  expect(log.some((entry) => entry.event === 'signed-out'), story).toBe(false);
  expect(await inApp(b, (app) => app.token())).toBe(a.token);
  expect(await inApp(b, (app) => app.callApi())).toMatchObject({ status: 200 });
  expect(await inApp(a.tab, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'ada.lovelace' } });
  expect(await inApp(a.tab, (app) => app.token())).toBe(a.token);
  // The slow path was taken: a read timed out and was made again (the page's first read, then at least one more).
  expect(reads.length, story).toBeGreaterThanOrEqual(2);
  // From storage and the shared token: no authorization, code exchange or refresh.
  expect(env.op.counts).toEqual({ ...before, apiCalls: env.op.counts.apiCalls });
  await context.close();
}, 120_000);

it('a tab opened while the users store answers no read at all: ready and getToken settle, typed, while it is still held', async ({ annotate }) => {
  const { context, a, before, holder, b } = await tabBesideHeldStore();
  // Held until B's `ready` has settled (or the cap): the bound is the library's, not the database's.
  const readyAt = await b.evaluate(() => (globalThis as unknown as { app: { ready: Promise<string> } }).app.ready.then((outcome) => ({ outcome, at: performance.now() })));
  const tokenAt = await b.evaluate(async () => {
    const app = (globalThis as unknown as { app: { token: () => Promise<string> } }).app;
    return { token: await app.token(), at: performance.now() };
  });
  const held = await holdState(holder);
  const reads = await userReads(b);
  const state = await inApp(b, (app) => app.state());
  const observed = {
    ready: readyAt.outcome,
    readyAfter: Math.round(readyAt.at - reads[0]!),
    token: tokenAt.token.startsWith('error:') ? tokenAt.token : 'token',
    tokenAfter: Math.round(tokenAt.at - reads[0]!),
    signedIn: state.signedIn,
    reads: reads.map((start) => Math.round(start - reads[0]!)),
    held,
  };
  await annotate(`users store held past every read: ${JSON.stringify(observed)}`);
  // Settled while the database still answered nothing: no wait on it is unbounded.
  expect(held, JSON.stringify(observed)).toMatchObject({ state: 'holding' });
  // Typed: `ready` resolves or fails with a SessionError code; getToken gives the session's token or a typed error,
  // and signed out means login_required.
  expect(observed.ready, JSON.stringify(observed)).toMatch(/^(ok|[a-z_]+)$/);
  expect(tokenAt.token === a.token || /^error:[a-z_]+$/.test(tokenAt.token), JSON.stringify(observed)).toBe(true);
  if (!state.signedIn) expect(tokenAt.token).toBe('error:login_required');
  await release(holder);

  // After: what B shows once the database answers again (observed, not promised), and A untouched.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const after = { state: await inApp(b, (app) => app.state().signedIn), token: (await inApp(b, (app) => app.token())).replace(a.token, 'token') };
  await annotate(`after the release: ${JSON.stringify(after)}`);
  expect(await inApp(a.tab, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'ada.lovelace' } });
  expect(await inApp(a.tab, (app) => app.token())).toBe(a.token);
  expect(env.op.counts).toEqual({ ...before, apiCalls: env.op.counts.apiCalls });
  await context.close();
}, 90_000);
