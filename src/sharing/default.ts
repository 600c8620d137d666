import { browserSharing } from './browser/sharing.js';
import { memorySharing } from './memory.js';
import type { Sharing } from './sharing.js';

let shared: Sharing | undefined;

/**
 * The transport used when `createSession` gets no `sharing` option: browser sharing in browsers; in Deno the same
 * between its workers (Web Locks and BroadcastChannel are process-wide there), in memory since Deno has no IndexedDB;
 * otherwise one memory per JavaScript context.
 */
export function defaultSharing(): Sharing {
  return (shared ??= inBrowser() || 'Deno' in globalThis ? browserSharing() : memorySharing());
}

/**
 * Windows, iframes, workers and service workers all have `indexedDB`, even where opening it fails (browser sharing
 * then degrades and says so, as it does without Web Locks or BroadcastChannel); Node, Deno and workerd have not.
 * Node with a fake IndexedDB (test setups) stays in memory: a BroadcastChannel there would keep the process alive.
 * Deno has a `process` with `versions.node` too, and no IndexedDB.
 */
export function inBrowser(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof indexedDB !== 'undefined' && typeof process?.versions?.node !== 'string';
}
