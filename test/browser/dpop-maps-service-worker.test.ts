import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pageLoading } from '../support/chromium.js';
import { colourAt, expectTileColour, mapFiles, mapFixtures, mapLibraries, type MapLibrary, mapState, settled } from '../support/map-pages.js';
import { openApps, SCOPE, useOidcApp, userSignsIn } from '../support/oidc-app.js';
import type { ApiRequestRecord } from '../support/openid-provider.js';
import { loadImage, pageFetch } from '../support/page-requests.js';
import { type Recorder, startRecorder } from '../support/tiles.js';

/**
 * Issue 25, maps and the service worker: with `oidcSession({ dpop: true })`, the map helpers (MapLibre through its
 * custom protocol, OpenLayers' and Leaflet's tile loaders) and the service worker helper send every request they
 * authenticate with `Authorization: DPoP` and a fresh proof of the origin's one key, checked strictly by the test
 * provider's tiles (test/support/dpop-api.ts: signature, `htm`, `htu`, `iat`, `ath`, `jti` never replayed, the
 * token's `cnf.jkt`), with the API's own nonces on. A URL outside `match` gets neither token nor proof, and a retry
 * after a 401 carries a new proof.
 */
const env = useOidcApp({ dpop: true }, {}, {
  fixtures: { ...mapFixtures(), 'auth-sw': 'test/browser/fixtures/auth-sw.ts', 'sw-page': 'test/browser/fixtures/sw-page.ts' },
  files: () => ({ ...mapFiles(), 'sw.html': pageLoading('sw-page.js') }),
});
let recorder: Recorder;
let context: BrowserContext | undefined;
beforeAll(async () => {
  recorder = await startRecorder();
});
afterEach(async () => {
  await context?.close();
  context = undefined;
  recorder.requests.length = 0;
});
afterAll(async () => {
  await recorder?.close();
});

/** A fresh profile where the user signed in (in the app's page): the origin's DPoP key and tokens are stored. */
async function signedInProfile(): Promise<BrowserContext> {
  env.config = { ...env.config, dpop: true };
  // Refreshed ahead of expiry about every 5 s, so refreshes (and the provider's nonces) meet the tile requests; long
  // enough that a token never expires on its way on a loaded machine.
  env.op.accessTokenTtl = 10;
  context = await env.browser.newContext({ viewport: { width: 512, height: 512 } });
  const [app] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(app!)).toBe('ok');
  return context;
}

/** The query of the fixtures' session (test/browser/fixtures/query-session.ts): the sign-in with DPoP. */
function sessionQuery(extra: Record<string, string | string[]>): string {
  const query = new URLSearchParams({ issuer: env.op.issuer, client: env.config.clientId, scope: SCOPE, dpop: '' });
  for (const [name, value] of Object.entries(extra)) for (const each of [value].flat()) query.append(name, each);
  return query.toString();
}

async function openMap(profile: BrowserContext, library: MapLibrary, extra: Record<string, string> = {}): Promise<Page> {
  const page = await profile.newPage();
  const query = sessionQuery({ tileOrigin: env.op.issuer, match: `${env.op.tilesUrl}/`, ...extra });
  await page.goto(`${env.origin}/${library}.html?${query}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

const tileRequests = (): ApiRequestRecord[] => env.op.apiRequests.filter((request) => request.path.startsWith('/tiles/'));

/**
 * What every DPoP request must show: a proof on each (the API checked it; a refusal would be its `DPoPCheck`), no
 * `jti` twice, and every request the API challenged for its nonce sent once more and accepted.
 */
function expectSignedRequests(requests: readonly ApiRequestRecord[], accepted: readonly string[] = ['ok']): void {
  expect(requests.length).toBeGreaterThan(0);
  for (const request of requests) {
    expect(request.scheme).toBe('DPoP');
    expect(request.jti).toEqual(expect.any(String));
    expect([...accepted, 'nonce-challenge']).toContain(request.outcome);
  }
  const jtis = requests.map((request) => request.jti);
  expect(new Set(jtis).size).toBe(jtis.length);
  const challenged = requests.filter((request) => request.outcome === 'nonce-challenge');
  for (const challenge of challenged) {
    const retry = requests.slice(requests.indexOf(challenge) + 1).find((request) => request.path === challenge.path);
    expect(retry?.outcome).toBe('ok');
  }
  expect(env.op.counts.replayedProofs).toBe(0);
}

describe.each(mapLibraries)('%s with oidcSession({ dpop: true })', (library) => {
  it('tiles load with a fresh proof each, accepted by the strict API; the API nonce is answered once and then kept', async () => {
    const profile = await signedInProfile();
    env.op.apiNonce = true;
    const page = await openMap(profile, library);
    await settled(page, 0);
    const first = tileRequests();
    expectSignedRequests(first);
    // Tiles started before any nonce was known are challenged (one retry each, never two).
    expect(env.op.counts.apiNonceChallenges).toBeLessThanOrEqual(first.filter((request) => request.outcome === 'ok').length);
    expect(env.op.counts.failedApiCalls).toBe(0);
    expect((await mapState(page)).tileErrors).toBe(0);
    expectTileColour(await colourAt(page, 256, 256));

    // Later tiles carry the nonce kept for the API's origin: no challenge more.
    const challenges = env.op.counts.apiNonceChallenges;
    const since = (await mapState(page)).settled;
    await page.evaluate(() => (globalThis as unknown as { moveTo(zoom: number): void }).moveTo(3));
    await settled(page, since);
    const later = tileRequests().slice(first.length);
    expectSignedRequests(tileRequests());
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((request) => request.outcome === 'ok' && request.nonce !== undefined)).toBe(true);
    expect(env.op.counts.apiNonceChallenges).toBe(challenges);
    expect(env.op.counts.failedApiCalls).toBe(0);
  }, 60_000);

  it('a tile the API refuses with 401 is sent once more, with a new proof (new jti) of the replacing token', async () => {
    const profile = await signedInProfile();
    const page = await openMap(profile, library);
    await settled(page, 0);
    env.op.rejectNextApiCalls(1);
    const since = (await mapState(page)).settled;
    await page.evaluate(() => (globalThis as unknown as { moveTo(zoom: number): void }).moveTo(3));
    await settled(page, since);
    const requests = tileRequests();
    expectSignedRequests(requests, ['ok', 'rejected']);
    const rejected = requests.find((request) => request.outcome === 'rejected')!;
    expect(rejected).toBeDefined();
    const retry = requests.slice(requests.indexOf(rejected) + 1).find((request) => request.path === rejected.path);
    expect(retry).toMatchObject({ outcome: 'ok', scheme: 'DPoP' });
    expect(retry!.jti).not.toBe(rejected.jti);
    // The session replaced the rejected token: the retry's proof binds another one (`ath`).
    expect(retry!.ath).not.toBe(rejected.ath);
    expect((await mapState(page)).tileErrors).toBe(0);
  }, 60_000);

  it('tiles outside match load with neither the token nor a proof', async () => {
    const profile = await signedInProfile();
    const page = await openMap(profile, library, { tileOrigin: recorder.origin });
    await settled(page, 0);
    const outside = recorder.requests.filter((request) => request.method === 'GET' && request.path.startsWith('/tiles/'));
    expect(outside.length).toBeGreaterThan(0);
    for (const request of outside) {
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers.dpop).toBeUndefined();
    }
    expect(tileRequests()).toEqual([]);
    expect((await mapState(page)).tileErrors).toBe(0);
  }, 60_000);
});

describe('the service worker helper with oidcSession({ dpop: true })', () => {
  /** A page of the signed-in profile that the auth service worker (test/browser/fixtures/auth-sw.ts) controls. */
  async function controlledPage(profile: BrowserContext): Promise<Page> {
    const page = await profile.newPage();
    await page.goto(`${env.origin}/sw.html?${sessionQuery({ match: `${env.op.tilesUrl}/` })}`);
    await page.waitForFunction(() => document.title === 'ready');
    return page;
  }

  it('<img>, CSS and fetch get Authorization: DPoP and a fresh proof each; the nonce challenge answered once; a 401 retried with a new proof; nothing outside match', async () => {
    const profile = await signedInProfile();
    env.op.apiNonce = true;
    const page = await controlledPage(profile);
    const tiles = env.op.tilesUrl;

    // The first request meets the API's nonce requirement: answered once, with a new proof.
    expect(await loadImage(page, `${tiles}/1/0/0.png`)).toBe(256);
    expect(env.op.counts.apiNonceChallenges).toBe(1);
    // Later ones, whatever starts them, carry the kept nonce.
    expect(await Promise.all([1, 2].map((y) => loadImage(page, `${tiles}/2/0/${y}.png`)))).toEqual([256, 256]);
    expect((await pageFetch(page, `${tiles}/2/1/1.png`)).status).toBe(200);
    await page.evaluate((url) => {
      const styled = document.createElement('div');
      styled.style.cssText = `width:64px;height:64px;background-image:url("${url}")`;
      document.body.append(styled);
    }, `${tiles}/2/2/2.png`);
    await expect.poll(() => tileRequests().some((request) => request.path === '/tiles/2/2/2.png' && request.outcome === 'ok'), { timeout: 10_000 }).toBe(true);
    expect(env.op.counts.apiNonceChallenges).toBe(1);

    // A 401 from the API: the token is replaced and the request sent once more, with a new proof.
    env.op.rejectNextApiCalls(1);
    expect(await loadImage(page, `${tiles}/3/0/0.png`)).toBe(256);
    const requests = tileRequests();
    expectSignedRequests(requests, ['ok', 'rejected']);
    const rejected = requests.find((request) => request.outcome === 'rejected')!;
    // The retry with the new token, and the API's nonce: the refresh behind it brought the provider's own nonce
    // (one origin here), which is kept apart and replaces nothing.
    const retries = requests.slice(requests.indexOf(rejected) + 1).filter((request) => request.path === rejected.path);
    expect(retries.map((request) => request.outcome)).toEqual(['ok']);
    expect(retries[0]!.jti).not.toBe(rejected.jti);
    expect(retries[0]!.ath).not.toBe(rejected.ath);
    expect(env.op.counts.apiNonceChallenges).toBe(1);
    expect(requests.filter((request) => request.outcome === 'ok').map((request) => request.path).sort()).toEqual(
      ['/tiles/1/0/0.png', '/tiles/2/0/1.png', '/tiles/2/0/2.png', '/tiles/2/1/1.png', '/tiles/2/2/2.png', '/tiles/3/0/0.png'].sort(),
    );

    // Outside match: neither token nor proof.
    expect(await loadImage(page, `${recorder.origin}/open.png`)).toBe(8);
    expect((await pageFetch(page, `${recorder.origin}/open`)).status).toBe(200);
    const outside = recorder.requests.filter((request) => request.method === 'GET');
    expect(outside).toHaveLength(2);
    for (const request of outside) {
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers.dpop).toBeUndefined();
    }
  }, 60_000);
});
