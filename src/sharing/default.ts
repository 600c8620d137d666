import { browserSharing } from './browser/sharing.js';
import { memorySharing } from './memory.js';
import type { Sharing } from './sharing.js';
import { inBrowser } from '../core/in-browser.js';

let shared: Sharing | undefined;

/**
 * The transport used when `createSession` gets no `sharing` option: browser sharing in browsers; in Deno the same
 * between its workers (Web Locks and BroadcastChannel are process-wide there), in memory since Deno has no IndexedDB;
 * otherwise one memory per JavaScript context. This is `#default-sharing` (package.json `imports`) in browsers, Deno and
 * wherever the runtime is not known when bundling; Node and workerd load `default-memory.ts` instead, which makes the
 * choice this function would make there without carrying browser sharing.
 */
export function defaultSharing(): Sharing {
  return (shared ??= inBrowser() || 'Deno' in globalThis ? browserSharing() : memorySharing());
}
