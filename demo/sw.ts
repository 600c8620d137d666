/**
 * The demo's service worker: adds the session's token to tile requests that arrive without one (the "Tiles through
 * the service worker" switch). It opens the same session as the tabs, so with browser sharing it joins their token.
 */
import { PRESENCE_PATH, TILE_PATH } from './config.js';
import { type AuthFetchEvent, handleAuthFetch } from 'shared-session/service-worker';
import { configOf, modeOf, openSession } from './src/session.js';

interface ServiceWorkerScope {
  readonly location: Location;
  readonly registration: unknown;
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', listener: (event: Event & { waitUntil(p: Promise<unknown>): void }) => void): void;
  addEventListener(type: 'fetch', listener: (event: AuthFetchEvent) => void): void;
}
const worker = self as unknown as ServiceWorkerScope;

// The page registers this worker with its mode and provider in the query: the worker opens the same session.
const { session } = openSession(worker.location.origin, modeOf(worker.location.search), configOf(worker.location.search));
const id = crypto.randomUUID();
let announced = 0;

// Tells the stand-in that this worker shares the session (it counts workers seen in the last 30 s).
function announce(): void {
  if (Date.now() - announced < 10_000) return;
  announced = Date.now();
  fetch(`${PRESENCE_PATH}?worker=${id}`, { method: 'POST' }).catch(() => undefined);
}

worker.addEventListener('install', (event) => event.waitUntil(worker.skipWaiting()));
worker.addEventListener('activate', (event) => {
  announce();
  event.waitUntil(worker.clients.claim());
});
worker.addEventListener('fetch', (event) => {
  if (handleAuthFetch(event, { session, match: TILE_PATH })) {
    announce();
  }
});
