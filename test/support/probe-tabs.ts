import type { Page } from 'playwright-core';
import { beforeAll } from 'vitest';
import type { Probes } from '../browser/fixtures/probe-tab.js';
import { pageLoading, serveFiles } from './chromium.js';
import { type Harness, inTab, tabUrl, useTabs } from './tabs.js';

/** useTabs, plus `/probe.html`: the tab fixture with probes the reliability tests need (test/browser/fixtures/probe-tab.ts). */
export function useProbeTabs(): ReturnType<typeof useTabs> {
  const env = useTabs({ 'probe-tab': 'test/browser/fixtures/probe-tab.ts' });
  beforeAll(() => serveFiles(env.server, { 'probe.html': pageLoading('probe-tab.js') }));
  return env;
}

export function probeUrl(origin: string, params: Record<string, string | number | boolean>): string {
  return tabUrl(origin, params).replace('/tab.html', '/probe.html');
}

export function inProbe<R, A = undefined>(page: Page, task: (harness: Harness & Probes, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
  return inTab(page, task as unknown as (harness: Harness, arg: A) => R | Promise<R>, arg);
}

/** Index of the tab that leads credential `a`. */
export async function leaderOf(tabs: Page[]): Promise<number> {
  return (await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())))).indexOf(true);
}
