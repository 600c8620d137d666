import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Harness, LogEntry } from '../browser/fixtures/tab.js';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium, serveFiles } from './chromium.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export type { Harness, LogEntry };

/** Opens `count` tabs of one browser context on `url` at the same time and waits until each has its harness. */
export async function openTabs(context: BrowserContext, url: string, count: number): Promise<Page[]> {
  const pages = await Promise.all(Array.from({ length: count }, () => context.newPage()));
  await Promise.all(pages.map((page) => page.goto(url)));
  await Promise.all(pages.map((page) => page.waitForFunction(() => 'harness' in globalThis)));
  return pages;
}

/**
 * Runs `task` in the tab with the fixture's harness (`test/browser/fixtures/tab.ts`). `task` is sent as source, so it
 * may use only its arguments.
 */
export function inTab<R, A = undefined>(page: Page, task: (harness: Harness, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
  return page.evaluate(
    ({ source, value }) => {
      const run = new Function('harness', 'arg', `return (${source})(harness, arg);`) as (h: unknown, a: unknown) => R;
      return run((globalThis as unknown as { harness: unknown }).harness, value);
    },
    { source: task.toString(), value: arg },
  ) as Promise<R>;
}

/** The tab's event log (times on the shared wall clock, ms with µs resolution). */
export function logOf(page: Page): Promise<LogEntry[]> {
  return inTab(page, (harness) => harness.log);
}

/** URL of the tab fixture with these query parameters. */
export function tabUrl(origin: string, params: Record<string, string | number | boolean>): string {
  const query = new URLSearchParams(Object.entries(params).map(([name, value]) => [name, value === true ? '' : String(value)]));
  return `${origin}/tab.html?${query}`;
}

/**
 * Starts, for the calling test file, a token server that also serves the tab fixture (`/tab.html`) and any extra
 * fixtures, and takes a Chromium (`acquireChromium`); after the file the server stops and the file's contexts close.
 * The server is reset before each test.
 */
export function useTabs(
  extra: Record<string, string> = {},
  launch: Parameters<typeof acquireChromium>[1] = {},
): { readonly server: TokenServer; readonly browser: Browser } {
  const state = {} as { server: TokenServer; browser: Browser };
  beforeAll(async () => {
    state.server = await startTokenServer();
    const files = await bundleFixtures({ tab: 'test/browser/fixtures/tab.ts', ...extra });
    serveFiles(state.server, { ...files, 'tab.html': pageLoading('tab.js') });
    state.browser = await acquireChromium([], launch);
  });
  beforeEach(() => state.server.reset());
  afterAll(async () => {
    await releaseChromium(state.browser);
    await state.server?.close();
  });
  return state;
}
