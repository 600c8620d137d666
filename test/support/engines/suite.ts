import { text } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import type { Harness } from '../../browser/fixtures/tab.js';
import type { Probes } from '../../browser/fixtures/probe-tab.js';
import type { EngineProbes, PageReport } from '../../engines/fixtures/engine-tab.js';
import { bundleFixtures, pageLoading, serveFiles } from '../chromium.js';
import { startTokenServer, type TokenServer } from '../token-server.js';
import { type Engine, type EngineName, type EnginePage, type OpenOptions, launchEngine, together } from './index.js';

export type EngineHarness = Harness & Probes & EngineProbes;

let bundles: Promise<Record<string, string>> | undefined;

/** The fixtures, bundled once per test file against the built package (`dist/`). */
function fixtureFiles(): Promise<Record<string, string>> {
  bundles ??= bundleFixtures({
    'engine-tab': 'test/engines/fixtures/engine-tab.ts',
    worker: 'test/browser/fixtures/worker.ts',
    'auth-sw': 'test/browser/fixtures/auth-sw.ts',
    'sw-page': 'test/browser/fixtures/sw-page.ts',
  }).then((files) => ({ ...files, 'tab.html': pageLoading('engine-tab.js'), 'sw.html': pageLoading('sw-page.js') }));
  return bundles;
}

export interface EngineEnv {
  readonly engine: Engine;
  /** A token server of this test alone: a new origin, so storage, channels and service workers start empty. */
  readonly server: TokenServer;
  /** Calls to `/api/always-401` in this test. */
  readonly always401: { count: number };
  /** The latest report of each page that runs `startReporting`, by its `reportId`. */
  readonly reports: Map<string, PageReport>;
  url(params: Record<string, string | number | boolean>): string;
  /** Opens `count` pages of the tab fixture, one after the other, and waits until each has its harness. */
  tabs(count: number, params: Record<string, string | number | boolean>, options?: OpenOptions): Promise<EnginePage[]>;
  /** Runs `task` with the page's harness; `task` is sent as source, so it may use only its arguments. */
  inTab<R, A = undefined>(page: EnginePage, task: (harness: EngineHarness, arg: A) => R | Promise<R>, arg?: A, timeout?: number): Promise<R>;
  /** The same task in every page, started at one moment of the wall clock (see `together`). */
  inTabs<R, A = undefined>(pages: readonly EnginePage[], task: (harness: EngineHarness, arg: A) => R | Promise<R>, arg?: A): Promise<R[]>;
}

const withHarness = (task: (harness: EngineHarness, arg: never) => unknown): string =>
  `(arg) => (${task.toString()})(globalThis.harness, arg)`;

/**
 * One `describe` block per engine, named after it, the engines side by side: each block launches its own browser and
 * starts its own servers on ports the OS picks, so the blocks share nothing but the machine, and a file takes as long as
 * its slowest engine instead of the sum of all (most of it waits on timers, token lifetimes and drivers, not on CPU).
 * The tests of one engine run one after the other: they share its browser and `useEngine`'s per-test server. A test
 * takes `expect` from its context (`async ({ expect }) =>`): with the blocks side by side, the global `expect` cannot
 * tell which test it runs in (`expect.poll` throws "must be called inside a test" once the other engine's test ended).
 */
export function describeEngines<N extends EngineName>(names: readonly N[], body: (name: N) => void): void {
  describe.concurrent.each(names)('%s', (name) => {
    describe.sequential('one test at a time', () => body(name));
  });
}

/**
 * For a `describe` block of one engine: launches the engine once, and before each test a fresh token server (new
 * origin) that serves the fixtures; pages opened in a test are closed after it.
 */
export function useEngine(name: EngineName, options: OpenOptions = {}): EngineEnv {
  const state = { pages: [] as EnginePage[], always401: { count: 0 }, reports: new Map<string, PageReport>() } as {
    engine: Engine;
    server: TokenServer;
    pages: EnginePage[];
    always401: { count: number };
    reports: Map<string, PageReport>;
  };
  // A bound on a hung launch, not a promise: Firefox took 40 s to start at load 40 (test/support/engines/*.ts).
  beforeAll(async () => {
    state.engine = await launchEngine(name);
  }, 90_000);
  beforeEach(async () => {
    state.server = await startTokenServer();
    state.always401.count = 0;
    state.server.route((_req, res, url) => {
      if (url.pathname !== '/api/always-401') return false;
      state.always401.count++;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('no');
      return true;
    });
    state.reports.clear();
    state.server.route(async (req, res, url) => {
      if (url.pathname !== '/report' || req.method !== 'POST') return false;
      const report = JSON.parse(await text(req)) as PageReport;
      state.reports.set(report.id, report);
      res.writeHead(204).end();
      return true;
    });
    serveFiles(state.server, await fixtureFiles());
  });
  afterEach(async () => {
    for (const page of state.pages.splice(0)) await page.close().catch(() => undefined);
    await state.server?.close();
  });
  afterAll(async () => {
    await state.engine?.close();
  }, 60_000);

  const url = (params: Record<string, string | number | boolean>): string => {
    const query = new URLSearchParams(Object.entries(params).map(([key, value]) => [key, value === true ? '' : String(value)]));
    return `${state.server.origin}/tab.html?${query}`;
  };
  return {
    get engine() {
      return state.engine;
    },
    get server() {
      return state.server;
    },
    get always401() {
      return state.always401;
    },
    get reports() {
      return state.reports;
    },
    url,
    async tabs(count, params, openOptions = options) {
      const pages: EnginePage[] = [];
      for (let index = 0; index < count; index++) {
        const page = await state.engine.open(url(params), openOptions);
        state.pages.push(page);
        pages.push(page);
      }
      for (const page of pages) await page.waitFor(() => 'engineReady' in globalThis);
      return pages;
    },
    inTab: (page, task, arg, timeout) => page.evaluate(withHarness(task as never), arg, timeout),
    inTabs: (pages, task, arg) => together(pages, withHarness(task as never), arg),
  };
}

/** Index of the page that leads credential `name`, or -1. */
export async function leaderOf(env: EngineEnv, pages: readonly EnginePage[], name = 'a'): Promise<number> {
  const leaders: boolean[] = [];
  for (const page of pages) leaders.push(await env.inTab(page, (harness, credential) => harness.isLeader(credential), name));
  return leaders.indexOf(true);
}

/** How many of `pages` lead credential `name`. */
export async function leaderCount(env: EngineEnv, pages: readonly EnginePage[], name = 'a'): Promise<number> {
  let count = 0;
  for (const page of pages) if (await env.inTab(page, (harness, credential) => harness.isLeader(credential), name)) count++;
  return count;
}

/** The codes of the `error` events a page's sessions emitted. */
export async function errorsOf(env: EngineEnv, page: EnginePage): Promise<unknown[]> {
  return (await env.inTab(page, (harness) => harness.log)).filter((entry) => entry.event === 'error').map((entry) => entry.detail);
}

/** Prints one figure the README's engine table quotes, e.g. `[engines] firefox takeover after crash: 42 ms`. */
export function report(engine: EngineName, what: string, value: string): void {
  console.warn(`[engines] ${engine} ${what}: ${value}`);
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** Fewer pages in WebKit, whose driver talks to one window at a time (the same assertions). */
export const tabCount = (engine: EngineName, count: number): number => (engine === 'webkit' ? Math.max(2, Math.ceil(count / 2)) : count);
