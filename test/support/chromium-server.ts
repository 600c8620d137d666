import { chromium, type BrowserServer } from 'playwright-core';
import type { TestProject } from 'vitest/node';
import { chromiumLaunchOptions, chromiumVariant, type ChromiumOptions } from './chromium.js';

/**
 * The configurations launched once per project run: the default one, and the one with the back/forward cache on
 * (the bfcache files). Others (the popup blocker on, WebGL) are rare enough that their files launch their own.
 */
const SHARED: ReadonlyArray<readonly [readonly string[], ChromiumOptions]> = [
  [[], {}],
  [[], { ignoreDefaultArgs: ['--disable-back-forward-cache'] }],
];

/**
 * A vitest `globalSetup`: launches one Chromium per configuration in `SHARED` for all the files of the project, and
 * provides their endpoints to `launchChromium` (test/support/chromium.ts), which connects to them. Each file still
 * makes its own browser contexts (a profile each: storage, service workers, locks and channels apart) and closes
 * them; what it no longer pays is a browser's start and stop (seconds each on a loaded machine). Closed after the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers: BrowserServer[] = await Promise.all(SHARED.map(([args, options]) => chromium.launchServer(chromiumLaunchOptions(args, options))));
  project.provide('sharedChromium', Object.fromEntries(SHARED.map(([args, options], index) => [chromiumVariant(args, options), servers[index]!.wsEndpoint()])));
  return async () => {
    await Promise.all(servers.map((server) => server.close()));
  };
}
