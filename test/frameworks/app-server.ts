import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build, type PluginOption } from 'vite';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { fillLoginForm } from '../support/oidc-app.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';

const root = path.resolve(import.meta.dirname, '../..');
const CLIENT_ID = 'web';

export interface FrameworkApp {
  readonly origin: string;
  readonly op: OpenIdProvider;
  readonly browser: Browser;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.svg': 'image/svg+xml' };

/**
 * For the calling test file: an example app of `examples/<name>` built by Vite (its own plugins, `shared-session`
 * resolved to this repository's `dist/`) into a temporary folder, served on 127.0.0.1 as a single-page app (every
 * path without a file is `index.html`, as a static host configured for client routing does), the shared OpenID
 * provider with that app as its public client (redirect URI `/callback`), and one Chromium.
 */
export function useFrameworkApp(name: string, plugins: () => Promise<PluginOption[]>): FrameworkApp {
  const state = {} as { origin: string; op: OpenIdProvider; browser: Browser; server: Server; outDir: string };
  beforeAll(async () => {
    state.outDir = await mkdtemp(path.join(tmpdir(), `${name}-`));
    const server = createServer((req, res) => {
      void (async () => {
        const { pathname } = new URL(req.url ?? '/', 'http://localhost');
        const file = path.join(state.outDir, path.normalize(pathname));
        const extension = path.extname(file);
        const target = extension === '' || !file.startsWith(state.outDir) ? path.join(state.outDir, 'index.html') : file;
        try {
          const body = await readFile(target);
          res.writeHead(200, { 'content-type': TYPES[path.extname(target)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
        } catch {
          res.writeHead(404).end();
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.server = server;
    state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    state.op = await startOpenIdProvider({
      clients: [{ clientId: CLIENT_ID, redirectUris: [`${state.origin}/callback`], postLogoutRedirectUris: [`${state.origin}/`] }],
    });
    await build({
      root: path.join(root, 'examples', name),
      configFile: false,
      logLevel: 'warn',
      plugins: await plugins(),
      define: {
        'import.meta.env.VITE_OIDC_ISSUER': JSON.stringify(state.op.issuer),
        'import.meta.env.VITE_OIDC_CLIENT_ID': JSON.stringify(CLIENT_ID),
        'import.meta.env.VITE_API_URL': JSON.stringify(state.op.apiUrl),
      },
      resolve: {
        alias: [
          { find: /^shared-session$/, replacement: path.join(root, 'dist/index.js') },
          { find: /^shared-session\/(.*)$/, replacement: path.join(root, 'dist/$1.js') },
        ],
      },
      build: { outDir: state.outDir, emptyOutDir: true, minify: false },
    });
    state.browser = await launchChromium();
  });
  beforeEach(() => state.op.reset());
  afterAll(async () => {
    await state.browser?.close();
    await state.op?.close();
    await new Promise<void>((resolve) => {
      state.server?.closeAllConnections();
      state.server?.close(() => resolve());
    });
    if (state.outDir !== undefined) await rm(state.outDir, { recursive: true, force: true });
  });
  return {
    get origin() {
      return state.origin;
    },
    get op() {
      return state.op;
    },
    get browser() {
      return state.browser;
    },
  };
}

/** The `console.error`s of `page` (the example apps log every session `error` event there) and its page errors. */
export function errorsOf(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    // The browser's own favicon requests (the apps have none) are not the app's errors.
    if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) errors.push(`${message.text()} ${message.location().url}`);
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return errors;
}

/** Waits until the app's status line says `text`. */
export async function statusIs(page: Page, text: string): Promise<void> {
  await page.waitForFunction((expected) => document.querySelector('[data-testid="status"]')?.textContent === expected, text, { timeout: 20_000 });
}

/**
 * The whole life of a sign-in in an example app: open a page signed out, sign in through the provider's form, back on
 * the page signed in (1 code exchange, no `error`), move between pages, reload, a second tab, sign out in one tab:
 * both signed out.
 */
export async function signInLifecycle(app: FrameworkApp): Promise<void> {
  const { expect } = await import('vitest');
  const context = await app.browser.newContext();
  try {
    const page = await context.newPage();
    const errors = errorsOf(page);
    await page.goto(`${app.origin}/profile`);
    await statusIs(page, 'Signed out');

    await page.click('button:text("Sign in")');
    await fillLoginForm(page, 'ada.lovelace');
    // Back on the page the user signed in from, through the redirect URI, signed in.
    await page.waitForURL(`${app.origin}/profile`, { timeout: 20_000 });
    await statusIs(page, 'Signed in as Ada Lovelace');
    await page.waitForFunction(() => document.querySelector('[data-testid="api"]')?.textContent === 'API 200', undefined, { timeout: 20_000 });
    expect(app.op.counts.codeExchanges).toBe(1);
    expect(app.op.counts.failedCodeExchanges).toBe(0);
    expect(errors).toEqual([]);

    // Every page, through the app's own links.
    await page.click('a:text("Home")');
    await page.waitForURL(`${app.origin}/`);
    await statusIs(page, 'Signed in as Ada Lovelace');
    await page.click('a:text("Profile")');
    await page.waitForFunction(() => document.querySelector('[data-testid="api"]')?.textContent === 'API 200', undefined, { timeout: 20_000 });

    // A reload, then a second tab: signed in from the shared session, no new sign-in.
    await page.reload();
    await statusIs(page, 'Signed in as Ada Lovelace');
    await page.waitForFunction(() => document.querySelector('[data-testid="api"]')?.textContent === 'API 200', undefined, { timeout: 20_000 });
    const second = await context.newPage();
    const secondErrors = errorsOf(second);
    await second.goto(`${app.origin}/profile`);
    await statusIs(second, 'Signed in as Ada Lovelace');
    await second.waitForFunction(() => document.querySelector('[data-testid="api"]')?.textContent === 'API 200', undefined, { timeout: 20_000 });
    expect(app.op.counts.codeExchanges).toBe(1);
    expect(app.op.counts.reusedRefreshTokens).toBe(0);

    // Sign out in the second tab: both tabs are signed out.
    await second.click('button:text("Sign out")');
    await statusIs(second, 'Signed out');
    await statusIs(page, 'Signed out');
    expect(app.op.counts.codeExchanges).toBe(1);
    expect(errors).toEqual([]);
    expect(secondErrors).toEqual([]);
  } finally {
    await context.close();
  }
}
