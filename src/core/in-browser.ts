/**
 * Windows, iframes, workers and service workers all have `indexedDB`, even where opening it fails (browser sharing
 * then degrades and says so, as it does without Web Locks or BroadcastChannel); Node, Deno and workerd have not.
 * Node with a fake IndexedDB (test setups) stays in memory: a BroadcastChannel there would keep the process alive.
 * Deno has a `process` with `versions.node` too, and no IndexedDB. A module of its own so that what asks (the DPoP
 * key's scope) does not carry the default transport's chooser, which `#default-sharing` keeps out of server bundles.
 */
export function inBrowser(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof indexedDB !== 'undefined' && typeof process?.versions?.node !== 'string';
}
