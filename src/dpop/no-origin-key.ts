import { SessionError } from '../core/errors.js';
import type { BrowserDPoPKey } from './browser-key.js';

/**
 * `#dpop-origin-key` where the runtime is known to be Node (or Bun) or workerd (package.json `imports`): no origin-wide
 * key, since there is no IndexedDB to keep it in. Never called there (a session uses the origin's key only where
 * `inBrowser()` says so); without this module a Worker using DPoP would carry idb-keyval and the browser key's code.
 */
export function loadOrCreateKey(_credential: string, _now: number): Promise<BrowserDPoPKey> {
  return Promise.reject(new SessionError('unsupported_context', "This runtime has no IndexedDB for the origin's DPoP key: pass dpop: { key }"));
}
