import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import { AttributionControl, Map as MapLibreMap, NavigationControl, type RasterTileSource } from 'maplibre-gl';
import type { Session, Token } from 'shared-session';
import { CONFIG_PATH, type DemoConfig, EVENTS_PATH, MODE_PARAMETER, type ServiceStats, TILE_PATH } from '../config.js';
import { offlineStyle, SATELLITE } from './basemap.js';
import { maplibreTransformRequest } from 'shared-session/maplibre';
import { createLog } from './log.js';
import { modeOf, openSession, REFRESH_MARGIN, serviceWorkerUrl } from './session.js';

// Users sign in at the local OpenID provider (default), or `?mode=client-credentials` uses the backend's account.
const mode = modeOf(location.search);
const config = mode === 'sign-in' ? ((await (await fetch(CONFIG_PATH)).json()) as DemoConfig) : undefined;
const demo = openSession(location.origin, mode, config);
// What every mode has: a Session (an oidcSession is one too).
const session: Session = demo.session;

// Client-credentials mode: signing out is remembered so that a tab opened afterwards does not sign in again by
// itself; signing in again (here or in any tab that shares the session) forgets it. (A signed-in user's sign-out is
// the session's own: every tab drops it, and a tab opened afterwards is signed out.)
const SIGNED_OUT_KEY = 'shared-session-demo:signed-out';

const element = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const ui = {
  status: element('status-text'),
  role: element('role'),
  roleText: element('role-text'),
  tokenId: element('token-id'),
  tokenLeft: element('token-left'),
  tokenMeter: element('token-meter'),
  refreshMark: element('refresh-mark'),
  tokenNext: element('token-next'),
  tokenLife: element('token-life'),
  requests: element('m-requests'),
  sharing: element('m-sharing'),
  sharingLabel: element('m-sharing-label'),
  tiles: element('m-tiles'),
  refused: element('m-refused'),
  route: element('route'),
  signedOut: element('signed-out'),
  signedOutTitle: element('signed-out-title'),
  signedOutText: element('signed-out-text'),
  user: element('user'),
  modeLink: element<HTMLAnchorElement>('mode-link'),
  refresh: element<HTMLButtonElement>('refresh'),
  signOut: element<HTMLButtonElement>('sign-out'),
  signIn: element<HTMLButtonElement>('sign-in'),
  openTab: element<HTMLButtonElement>('open-tab'),
  viaServiceWorker: element<HTMLInputElement>('via-sw'),
  viaServiceWorkerText: element('via-sw-text'),
};
const log = createLog(element('log'));

let token: Token | undefined;
let readyError: unknown;
if (demo.mode === 'sign-in') {
  // Completes a sign-in coming back from the provider, or restores the one another tab made; before the map asks
  // for any tile.
  await demo.session.ready.catch((error: unknown) => (readyError = error));
}
let signedIn = demo.mode === 'sign-in' ? demo.session.signedIn : localStorage.getItem(SIGNED_OUT_KEY) === null;
// Shown on the signed-out card until the first sign-out.
let everSignedOut = false;
let viaServiceWorker = false;

// ---- map ---------------------------------------------------------------------------------------------------------

const tileBase = new URL(TILE_PATH, location.origin).href;
const tileUrl = (): string => `${tileBase}{z}/{x}/{y}.png?via=${viaServiceWorker ? 'service-worker' : 'transform-request'}`;
const authorizeTiles = maplibreTransformRequest(session, tileBase);
const phone = matchMedia('(max-width: 760px)').matches;

const map = new MapLibreMap({
  container: 'map',
  style: offlineStyle(tileUrl(), signedIn),
  center: [14, 30],
  zoom: phone ? 0.4 : 1.6,
  minZoom: 0,
  maxZoom: 10,
  dragRotate: false,
  attributionControl: false,
  // With the switch on, tile requests leave without a token and the service worker adds it.
  transformRequest: (url, type) => (viaServiceWorker || !signedIn ? undefined : authorizeTiles(url, type)),
});
map.touchZoomRotate.disableRotation();
map.addControl(new NavigationControl({ showCompass: false }), 'top-left');
map.addControl(new AttributionControl({ compact: true, customAttribution: 'Natural Earth' }), 'bottom-right');

let tilesLoaded = 0;
map.on('data', (event) => {
  if (event.dataType === 'source' && 'sourceId' in event && event.sourceId === SATELLITE && 'tile' in event && event.tile) {
    document.body.dataset.tiles = String(++tilesLoaded);
  }
});

function reloadTiles(): void {
  if (!map.isStyleLoaded()) return;
  map.setLayoutProperty(SATELLITE, 'visibility', signedIn ? 'visible' : 'none');
  if (signedIn) (map.getSource(SATELLITE) as RasterTileSource).setTiles([tileUrl()]);
}
map.on('load', reloadTiles);
// Fold the attribution into its (i) button once everything is drawn, as MapLibre does after the first drag.
map.once('idle', () => map.getContainer().querySelector('.maplibregl-ctrl-attrib')?.classList.remove('maplibregl-compact-show'));

// ---- session -----------------------------------------------------------------------------------------------------

function setSignedIn(value: boolean): void {
  signedIn = value;
  if (demo.mode === 'client-credentials') {
    if (value) localStorage.removeItem(SIGNED_OUT_KEY);
    else localStorage.setItem(SIGNED_OUT_KEY, '1');
  }
  document.body.dataset.auth = value ? 'signed-in' : 'signed-out';
  const name = demo.mode === 'sign-in' ? String(demo.session.user?.name ?? demo.session.user?.sub ?? '') : '';
  document.body.dataset.user = value ? name : '';
  ui.user.textContent = !value ? '' : demo.mode === 'sign-in' ? `Signed in as ${name}` : 'Service account (client credentials, via the backend)';
  ui.signedOutTitle.textContent = everSignedOut ? 'Signed out everywhere' : 'Sign in to see the tiles';
  ui.signedOutText.textContent =
    demo.mode === 'sign-in'
      ? everSignedOut
        ? 'The token was dropped in every tab that shared it. Sign in again: any user name works at the local provider.'
        : 'The tiles need a signed-in user. Any user name works at the local OpenID provider; every tab signs in at once.'
      : 'The token was dropped in every tab that shared it. Protected tiles stay hidden until you sign in.';
  ui.signIn.textContent = everSignedOut ? 'Sign in again' : 'Sign in';
  ui.signedOut.hidden = value;
  ui.signOut.disabled = !value;
  ui.refresh.disabled = !value;
  reloadTiles();
  render();
}

session.on('authenticated', () => log.add('request', 'This tab requested a token from the service'));
session.on('token', (next, source) => {
  const refreshed = token !== undefined;
  token = next;
  if (!signedIn && demo.mode === 'client-credentials') {
    setSignedIn(true);
    if (source !== 'endpoint') log.add('token', 'Signed in again from another tab');
  }
  if (source === 'endpoint') log.add('token', refreshed ? 'Refreshed the token for every tab' : 'Signed in: this tab fetched the token');
  else if (source === 'remote') log.add('token', refreshed ? 'Got the refreshed token from the leader tab' : 'Got the token from another tab: no request');
  else log.add('token', 'Token taken from shared storage: no request');
  render();
});
session.on('cleared', (origin) => {
  token = undefined;
  everSignedOut = true;
  if (signedIn) setSignedIn(false);
  log.add('cleared', origin === 'local' ? 'You signed out: every tab drops the token' : 'Signed out from another tab');
  render();
});
session.on('leader', (leading) => {
  log.add('leader', leading ? 'This tab is now the leader: it refreshes for everyone' : 'Another tab took over refreshing');
  render();
});
session.on('error', (error) => log.add('error', `${error.code}: ${error.message}`));
if (demo.mode === 'sign-in') {
  demo.session.on('signed-in', (user) => {
    log.add('token', `${String(user.name ?? user.sub)} signed in: every tab is signed in`);
    setSignedIn(true);
    void showToken();
  });
  demo.session.on('signed-out', () => {
    everSignedOut = true;
    token = undefined;
    if (signedIn) setSignedIn(false);
  });
}

/** Shows the session's token, also one that arrived before this page listened (the sign-in's own exchange). */
async function showToken(): Promise<void> {
  const current = await session.getToken().catch(() => undefined); // failures arrive as `error` events
  if (current !== undefined && signedIn && token === undefined) {
    token = current;
    render();
  }
}

async function signIn(): Promise<void> {
  if (demo.mode === 'sign-in') {
    // To the provider's login form and back; `ready` completes it when the page loads again.
    await demo.session.signIn().catch((error: unknown) => log.add('error', `Sign-in failed: ${String(error)}`));
    return;
  }
  setSignedIn(true);
  await session.getToken().catch(() => undefined); // failures arrive as `error` events
}

// ---- buttons -----------------------------------------------------------------------------------------------------

ui.openTab.addEventListener('click', () => window.open(location.href, '_blank'));
ui.refresh.addEventListener('click', () => {
  ui.refresh.disabled = true;
  session
    .getToken({ forceRefresh: true })
    .catch(() => undefined)
    .finally(() => (ui.refresh.disabled = !signedIn));
});
ui.signOut.addEventListener('click', () => {
  everSignedOut = true;
  setSignedIn(false);
  // A user's sign-out: every tab at once, the refresh token revoked, then the provider's logout and back here.
  void (demo.mode === 'sign-in' ? demo.session.signOut() : session.clear());
});
ui.signIn.addEventListener('click', () => void signIn());
ui.viaServiceWorker.addEventListener('change', () => void routeTiles(ui.viaServiceWorker.checked));

async function routeTiles(throughServiceWorker: boolean): Promise<void> {
  ui.viaServiceWorker.disabled = true;
  try {
    if (throughServiceWorker) await serviceWorkerInControl();
    viaServiceWorker = throughServiceWorker;
    ui.route.textContent = throughServiceWorker ? 'via service worker' : 'via transformRequest';
    ui.viaServiceWorkerText.textContent = throughServiceWorker
      ? 'The service worker adds the token'
      : "MapLibre's transformRequest adds the token";
    log.add('info', throughServiceWorker ? 'Tiles now go through the service worker' : 'Tiles now get the token from transformRequest');
    reloadTiles();
  } catch (error) {
    ui.viaServiceWorker.checked = viaServiceWorker;
    log.add('error', `Service worker unavailable: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    ui.viaServiceWorker.disabled = false;
  }
}

async function serviceWorkerInControl(): Promise<void> {
  const container = navigator.serviceWorker;
  if (container === undefined) throw new Error('this browser has none here (it needs https or localhost)');
  await container.register(serviceWorkerUrl(demo.mode, config), { type: 'module', scope: '/' });
  await container.ready;
  if (container.controller === null) {
    await new Promise((resolve) => container.addEventListener('controllerchange', resolve, { once: true }));
  }
}

// ---- live numbers ------------------------------------------------------------------------------------------------

const tabId = crypto.randomUUID();
const events = new EventSource(`${EVENTS_PATH}?tab=${tabId}`);
events.addEventListener('message', (message: MessageEvent<string>) => {
  const stats = JSON.parse(message.data) as ServiceStats;
  setNumber(ui.requests, stats.tokenRequests);
  setNumber(ui.sharing, stats.tabs + stats.workers);
  const tabs = `${stats.tabs} ${stats.tabs === 1 ? 'tab' : 'tabs'}`;
  const workers = stats.workers === 0 ? '' : ` + ${stats.workers} worker${stats.workers === 1 ? '' : 's'}`;
  const verb = stats.tabs + stats.workers === 1 ? 'uses' : 'share';
  ui.sharingLabel.textContent = `${tabs}${workers} ${verb} this session`;
  setNumber(ui.tiles, stats.tilesServed);
  setNumber(ui.refused, stats.unauthorized);
  document.body.dataset.tokenRequests = String(stats.tokenRequests);
});

function setNumber(target: HTMLElement, value: number): void {
  const text = value.toLocaleString('en');
  if (target.textContent === text) return;
  target.textContent = text;
  target.classList.remove('bump');
  void target.offsetWidth; // restart the animation
  target.classList.add('bump');
}

// ---- the tab's card, redrawn four times a second -----------------------------------------------------------------

const clock = (ms: number): string => {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
};

function render(): void {
  const leading = session.isLeader;
  const role = !signedIn ? 'signed-out' : leading ? 'leader' : 'follower';
  document.body.dataset.role = role;
  ui.role.textContent = role === 'signed-out' ? 'Signed out' : leading ? 'Leader' : 'Follower';
  ui.roleText.textContent = !signedIn
    ? 'No tab holds a token. Sign in to load the tiles.'
    : leading
      ? 'Refreshes the token for every tab.'
      : 'Receives the token from the leader tab.';
  ui.status.textContent = !signedIn ? 'Signed out' : token === undefined ? 'Signing in…' : 'Signed in';

  const now = Date.now();
  ui.refreshMark.hidden = token === undefined;
  if (token === undefined) {
    ui.tokenId.textContent = '—';
    ui.tokenLeft.textContent = '--:--';
    ui.tokenMeter.style.width = '0%';
    ui.tokenNext.textContent = signedIn ? 'Waiting for a token…' : 'No token';
    ui.tokenLife.textContent = '';
    return;
  }
  const lifetime = token.expiresAt - token.issuedAt;
  const left = token.expiresAt - now;
  const margin = Math.min(REFRESH_MARGIN, lifetime / 2);
  const refreshIn = left - margin;
  ui.tokenId.textContent = `…${token.accessToken.slice(-6)}`;
  ui.tokenLeft.textContent = clock(left);
  ui.tokenMeter.style.width = `${Math.max(0, Math.min(100, (left / lifetime) * 100))}%`;
  ui.tokenMeter.classList.toggle('late', refreshIn <= 0);
  ui.refreshMark.style.left = `${(margin / lifetime) * 100}%`;
  ui.tokenNext.textContent =
    left <= 0 ? 'Expired' : refreshIn > 0 ? `${leading ? 'This tab refreshes' : 'Leader refreshes'} in ${clock(refreshIn)}` : 'Refreshing…';
  ui.tokenLife.textContent = `lives ${Math.round(lifetime / 1000)} s`;
}
setInterval(render, 250);

// ---- start -------------------------------------------------------------------------------------------------------

const otherMode = new URL(location.href);
if (demo.mode === 'sign-in') otherMode.searchParams.set(MODE_PARAMETER, 'client-credentials');
else otherMode.searchParams.delete(MODE_PARAMETER);
ui.modeLink.href = otherMode.href;
ui.modeLink.textContent = demo.mode === 'sign-in' ? 'Use a service account instead (client credentials)' : 'Sign users in instead (OpenID Connect)';

if (demo.mode === 'sign-in') {
  if (readyError !== undefined) log.add('error', `Sign-in did not complete: ${String(readyError)}`);
  setSignedIn(signedIn);
  if (signedIn) {
    log.add('token', `Signed in as ${String(demo.session.user?.name ?? demo.session.user?.sub)}`);
    void showToken();
  } else {
    log.add('info', 'Not signed in: sign in to load the tiles');
  }
} else {
  setSignedIn(signedIn);
  if (signedIn) void signIn();
  else log.add('cleared', 'Signed out: sign in again to load the tiles');
}
