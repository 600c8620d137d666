import fc from 'fast-check';
import type { BrowserContext, Page } from 'playwright-core';
import { beforeAll, it } from 'vitest';
import { pageLoading, serveFiles } from '../support/chromium.js';
import { inTab, openTabs, tabUrl, useTabs } from '../support/tabs.js';

// The back/forward cache as a model: refresh-token tabs that follow links and come back, crash (`chrome://kill`),
// sign out, and refresh or replace (401 rule) their token, at random points of each other's refreshes (the token
// endpoint's latency and the waits between steps are drawn too). After each run every cached tab comes back and the
// rules are checked:
// - no refresh token is sent twice (the token server counts every one presented after it was rotated away);
// - nothing issued before a sign-out is handed out (after a sign-out every tab hands out nothing);
// - never an expired or replaced token: the server revokes every token at a sign-out and before a replacement, so a
//   token that one tab hands out valid means every tab that hands out a token hands out a valid one;
// - one leader among the tabs that run.
// `npm test` runs a few runs from a fixed seed; `npm run soak -- --only bfcache` runs many (BFCACHE_MODEL_RUNS,
// BFCACHE_MODEL_SEED), bounded by BFCACHE_MODEL_MINUTES.

const RUNS = Number(process.env.BFCACHE_MODEL_RUNS ?? 3);
const SEED = Number(process.env.BFCACHE_MODEL_SEED ?? 20261206);
const MINUTES = Number(process.env.BFCACHE_MODEL_MINUTES ?? 4);
const TABS = 3;

const env = useTabs({}, { ignoreDefaultArgs: ['--disable-back-forward-cache'] });
beforeAll(() => {
  serveFiles(env.server, { 'away.html': '<!doctype html><title>away</title><p>another page</p>' });
  env.server.route((_req, res, url) => {
    if (url.pathname !== '/cacheable-tab.html') return false;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(pageLoading('tab.js'));
    return true;
  });
});

type Step =
  | { readonly kind: 'refresh' | 'replace'; readonly tab: number; readonly latency: number }
  | { readonly kind: 'navigate' | 'back' | 'crash' | 'signOut'; readonly tab: number }
  | { readonly kind: 'wait'; readonly ms: number };

const tab = fc.nat(TABS - 1);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('refresh' as const, 'replace' as const), tab, latency: fc.integer({ min: 0, max: 1500 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('navigate' as const), tab }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('back' as const), tab }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), tab }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('signOut' as const), tab }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 1200 }) }) },
);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Slot {
  page: Page;
  /** On `away.html`, its tab page in the back/forward cache (or evicted: then going back loads it afresh). */
  away: boolean;
}

/** One run: its own client, refresh token and browser context. Returns what broke, if anything. */
async function run(steps: readonly Step[]): Promise<void> {
  env.server.reset();
  env.server.lifetime = 60;
  const client = env.server.addClient(`model-${Math.random().toString(36).slice(2, 8)}`);
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true, rt: env.server.issueRefreshToken(client.id) }).replace(
    '/tab.html',
    '/cacheable-tab.html',
  );
  const context: BrowserContext = await env.browser.newContext();
  try {
    const slots: Slot[] = (await openTabs(context, url, TABS)).map((page) => ({ page, away: false }));
    await Promise.all(slots.map((slot) => inTab(slot.page, (harness) => harness.first)));
    let signedOut = false;
    const trace: string[] = [];
    for (const next of steps) {
      trace.push(JSON.stringify(next));
      if (next.kind === 'wait') {
        await sleep(next.ms);
        continue;
      }
      const slot = slots[next.tab]!;
      if (next.kind === 'back') {
        if (slot.away) await backTo(slot);
        continue;
      }
      if (slot.away) continue;
      switch (next.kind) {
        case 'refresh':
        case 'replace':
          env.server.latency = next.latency;
          if (next.kind === 'replace') env.server.revokeAll(); // the API refuses every token so far: 401 rule
          // Not awaited: the next steps happen while it is in flight.
          await inTab(slot.page, (harness, replace) => {
            void harness
              .token()
              .then((token) => harness.token('a', replace ? { rejected: token } : { forceRefresh: true }))
              .catch(() => undefined);
          }, next.kind === 'replace').catch(() => undefined);
          break;
        case 'navigate':
          await slot.page.goto(`${env.server.origin}/away.html`);
          slot.away = true;
          break;
        case 'crash':
          await slot.page.goto('chrome://kill').catch(() => undefined);
          await slot.page.close().catch(() => undefined);
          slot.page = (await openTabs(context, url, 1))[0]!;
          break;
        case 'signOut':
          await inTab(slot.page, (harness) => harness.clear()).catch(() => undefined);
          env.server.revokeAll(); // everything issued before the sign-out is dead
          signedOut = true;
          break;
      }
    }
    // Quiescence: every tab back, nothing in flight.
    env.server.latency = 0;
    for (const slot of slots) if (slot.away) await backTo(slot);
    let requests = -1;
    for (let round = 0; round < 20 && requests !== env.server.stats.tokenRequests; round++) {
      requests = env.server.stats.tokenRequests;
      await sleep(500);
    }
    const outcomes = await Promise.all(slots.map((slot) => inTab(slot.page, (harness) => harness.tokenOrError())));
    const tokens = outcomes.filter((outcome) => outcome.startsWith('at_'));
    const valid = tokens.filter((token) => env.server.isValid(token));
    const broken: string[] = [];
    if (env.server.stats.refreshTokenReuse !== 0) broken.push(`refresh tokens sent twice: ${env.server.stats.refreshTokenReuse}`);
    if (signedOut && tokens.length > 0) broken.push(`handed out after a sign-out: ${tokens.length} token(s)`);
    if (valid.length > 0 && valid.length !== tokens.length) broken.push(`expired or replaced token handed out: ${tokens.length - valid.length} of ${tokens.length}`);
    const leaders = await leadersOf(slots.map((slot) => slot.page));
    if (leaders !== 1) broken.push(`${leaders} leaders`);
    if (broken.length > 0) throw new Error(`${broken.join('; ')}\nsteps: ${trace.join(' ')}\noutcomes: ${outcomes.map((text) => text.slice(0, 80)).join(' | ')}`);
  } finally {
    await context.close();
  }
}

async function backTo(slot: Slot): Promise<void> {
  await slot.page.goBack({ waitUntil: 'commit' });
  await slot.page.waitForFunction(() => 'harness' in globalThis);
  slot.away = false;
}

/** How many of the pages lead, once the election has settled (polled up to 3 s for exactly one). */
async function leadersOf(pages: readonly Page[]): Promise<number> {
  let count = 0;
  for (const end = Date.now() + 3000; Date.now() < end; await sleep(100)) {
    count = (await Promise.all(pages.map((page) => inTab(page, (harness) => harness.isLeader())))).filter(Boolean).length;
    if (count === 1) break;
  }
  return count;
}

it(
  `refresh-token tabs entering and leaving the back/forward cache, crashing and signing out at random points of a refresh: no refresh token sent twice, nothing from before a sign-out, no replaced token, one leader (${RUNS} runs, seed ${SEED})`,
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 4, maxLength: 10 }), (steps) => run(steps)),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, interruptAfterTimeLimit: MINUTES * 60_000 },
    );
  },
  (MINUTES + 2) * 60_000,
);
