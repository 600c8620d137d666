import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { AppHarness, AppLogEntry } from '../browser/fixtures/oidc-app.js';
import { acquireChromium, bundleFixtures, releaseChromium } from './chromium.js';
import { loginForm, startOpenIdProvider, type OpenIdProvider, type OpenIdProviderOptions } from './openid-provider.js';

export type { AppHarness, AppLogEntry };

/** What the app page is configured with (`globalThis.oidcConfig`), set by a test before it opens pages. */
export interface AppConfig {
  issuer: string;
  apiUrl: string;
  clientId: string;
  scope: string;
  /** Take IndexedDB away before the session exists (opening any database fails). */
  noidb?: boolean;
  /** Serve callbacks (`/app.html?code=…`) as a blank page that runs nothing, so a test can take the URL unused. */
  holdCallbacks?: boolean;
  /** Serve the app page with `Cross-Origin-Opener-Policy: same-origin`. */
  coop?: boolean;
  /**
   * Serve the app page with `Cache-Control: no-cache` instead of `no-store`: Chromium keeps no page served `no-store`
   * that fetched a `no-store` resource (every token response) in its back/forward cache.
   */
  cacheable?: boolean;
  /** `oidcSession({ dpop: true })`: the API calls carry `Authorization: DPoP` and a proof. */
  dpop?: boolean;
  /** A second `oidcSession` on the page (`app.second`), of the same client with this scope: another credential. */
  secondScope?: string;
}

export interface OidcApp {
  /** `http://127.0.0.1:<port>`: the app's origin, where `/app.html` is the redirect URI. */
  readonly origin: string;
  readonly appUrl: string;
  readonly op: OpenIdProvider;
  readonly browser: Browser;
  /** What pages opened from now on are configured with. Reset before each test. */
  config: AppConfig;
}

const CLIENT_ID = 'web';
export const SCOPE = 'openid offline_access profile email api';

/** More for the app server to serve, beside the app page and its worker. */
export interface OidcAppExtras {
  /** Fixtures to bundle, by the name they are served under (`/<name>.js`): `{ name: 'test/browser/fixtures/…ts' }`. */
  readonly fixtures?: Record<string, string>;
  /** Files served as they are, by path without the leading `/` (content type from the extension). */
  readonly files?: () => Record<string, string>;
}

const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', css: 'text/css' };

/** The app server and its provider, without a browser (the engines suite drives its own). */
export interface OidcAppServer {
  readonly origin: string;
  readonly appUrl: string;
  readonly op: OpenIdProvider;
  /** What pages opened from now on are configured with. */
  config: AppConfig;
  /**
   * What pages and workers posted to `/report` (JSON), in arrival order: a test that cannot reach its pages through
   * the driver any more (WebKitWebDriver after a page's process was killed) observes them here.
   */
  readonly reports: readonly unknown[];
  /** Resets the provider's counts, the reports and the pages' configuration (as before each test of `useOidcApp`). */
  reset(): void;
  close(): Promise<void>;
}

/**
 * An app server on 127.0.0.1 (the app page `/app.html`, which is also the redirect URI, a dedicated/service worker
 * `/oidc-worker.js`, `/signed-out.html`, a blank `/blank.html`, and the `extras`) and an OpenID provider of its own
 * with that app as its public client.
 */
export async function startOidcApp(providerOptions: Partial<OpenIdProviderOptions> = {}, extras: OidcAppExtras = {}): Promise<OidcAppServer> {
  const files = await bundleFixtures({
    'oidc-app': 'test/browser/fixtures/oidc-app.ts',
    'oidc-worker': 'test/browser/fixtures/oidc-worker.ts',
    ...extras.fixtures,
  });
  Object.assign(files, extras.files?.());
  const state = { reports: [] } as unknown as { origin: string; op: OpenIdProvider; config: AppConfig; reports: unknown[] };
  const server = createServer((req, res) => {
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://localhost');
    const headers = { 'cache-control': 'no-store', 'service-worker-allowed': '/' };
    if (pathname === '/report' && req.method === 'POST') {
      void readBody(req).then((body) => {
        state.reports.push(JSON.parse(body));
        res.writeHead(204).end();
      });
      return;
    }
    if (pathname === '/app.html' && state.config.holdCallbacks === true && searchParams.has('code')) {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>held callback</title>');
      return;
    }
    if (pathname === '/app.html') {
      const config = JSON.stringify(state.config).replace(/</g, '\\u003c');
      const coop = state.config.coop === true ? { 'cross-origin-opener-policy': 'same-origin' } : {};
      const cache = state.config.cacheable === true ? { 'cache-control': 'no-cache' } : {};
      res.writeHead(200, { ...headers, ...coop, ...cache, 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><html><head><meta charset="utf-8"><title>app</title></head><body>` +
          `<button id="sign-in">Sign in</button><button id="sign-in-popup">Sign in (popup)</button>` +
          `<script>globalThis.oidcConfig = ${config};</script><script type="module" src="/oidc-app.js"></script></body></html>`,
      );
      return;
    }
    if (pathname === '/signed-out.html') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>signed out</title><h1 id="app-signed-out">Signed out</h1>');
      return;
    }
    if (pathname === '/blank.html') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>blank</title>');
      return;
    }
    const body = files[pathname.slice(1)];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const type = CONTENT_TYPES[pathname.split('.').pop() ?? ''] ?? 'text/javascript';
    res.writeHead(200, { ...headers, 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.op = await startOpenIdProvider({
    clients: [{ clientId: CLIENT_ID, redirectUris: [`${state.origin}/app.html`], postLogoutRedirectUris: [`${state.origin}/signed-out.html`] }],
    accessTokenTtl: 4,
    ...providerOptions,
  });
  const reset = (): void => {
    state.op.reset();
    state.reports = [];
    state.config = { issuer: state.op.issuer, apiUrl: state.op.apiUrl, clientId: CLIENT_ID, scope: SCOPE };
  };
  reset();
  return {
    origin: state.origin,
    appUrl: `${state.origin}/app.html`,
    op: state.op,
    get config() {
      return state.config;
    },
    set config(value) {
      state.config = value;
    },
    get reports() {
      return state.reports;
    },
    reset,
    async close() {
      await state.op.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/**
 * For the calling test file: the app server and provider of `startOidcApp`, and one Chromium. All stop after the
 * file; the provider's counts are reset before each test.
 */
export function useOidcApp(
  providerOptions: Partial<OpenIdProviderOptions> = {},
  launch: Parameters<typeof acquireChromium>[1] = {},
  extras: OidcAppExtras = {},
): OidcApp {
  const state = {} as { app: OidcAppServer; browser: Browser };
  beforeAll(async () => {
    state.app = await startOidcApp(providerOptions, extras);
    state.browser = await acquireChromium([], launch);
  });
  beforeEach(() => state.app.reset());
  afterAll(async () => {
    await releaseChromium(state.browser);
    await state.app?.close();
  });
  return {
    get origin() {
      return state.app.origin;
    },
    get appUrl() {
      return state.app.appUrl;
    },
    get op() {
      return state.app.op;
    },
    get browser() {
      return state.browser;
    },
    get config() {
      return state.app.config;
    },
    set config(value) {
      state.app.config = value;
    },
  };
}

/** Opens `count` app pages and waits until each has its harness (and its `ready` settled). */
export async function openApps(context: BrowserContext, url: string, count: number): Promise<Page[]> {
  const pages = await Promise.all(Array.from({ length: count }, () => context.newPage()));
  await Promise.all(pages.map((page) => page.goto(url)));
  await Promise.all(pages.map((page) => waitForApp(page)));
  return pages;
}

/** Waits until the page's harness exists and `ready` has settled; returns how it settled (`ok` or an error code). */
export async function waitForApp(page: Page): Promise<string> {
  await page.waitForFunction(() => 'app' in globalThis);
  return inApp(page, (app) => app.ready);
}

/** Runs `task` in the page with its harness. `task` is sent as source, so it may use only its arguments. */
export function inApp<R, A = undefined>(page: Page, task: (app: AppHarness, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
  return page.evaluate(
    ({ source, value }) => {
      const run = new Function('app', 'arg', `return (${source})(app, arg);`) as (app: unknown, a: unknown) => R;
      return run((globalThis as unknown as { app: unknown }).app, value);
    },
    { source: task.toString(), value: arg },
  ) as Promise<R>;
}

/** On the provider's login page (in `page`), a user types `login` and submits. */
export async function fillLoginForm(page: Page, login: string): Promise<void> {
  await page.waitForSelector(loginForm.login);
  await page.fill(loginForm.login, login);
  await page.click(loginForm.submit);
}

/**
 * The user clicks "Sign in" in `page`, signs in at the provider as `login`, and is back on the app, signed in.
 * `anotherUser`: while the provider's session of someone else is still on (`prompt=login`).
 */
export async function userSignsIn(page: Page, login = 'ada.lovelace', { anotherUser = false } = {}): Promise<string> {
  if (anotherUser) {
    // The provider still has a session of the previous user: `prompt=login` asks for the form again.
    void inApp(page, (app) => app.signInCode({ authorizationParams: { prompt: 'login' } })).catch(() => undefined);
  } else {
    await page.click('#sign-in');
  }
  await fillLoginForm(page, login);
  await page.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code') && !url.searchParams.has('state'));
  return waitForApp(page);
}
