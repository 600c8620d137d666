import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { builtPackage } from './built-package.js';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';
import type { TokenServer } from './token-server.js';

/** WebGL without a GPU: ANGLE on SwiftShader, Chromium's software renderer. */
export const WEBGL_ARGS: readonly string[] = ['--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Debian's Chromium, headless, with the flags this machine's closed network needs. Never downloads a browser.
 * `extraArgs` are appended, e.g. `WEBGL_ARGS` for pages that draw with WebGL; `ignoreDefaultArgs` drops some of
 * playwright's own (e.g. `--disable-popup-blocking`, to see Chromium's popup blocker at work).
 */
export function launchChromium(extraArgs: readonly string[] = [], options: Pick<LaunchOptions, 'ignoreDefaultArgs'> = {}): Promise<Browser> {
  return chromium.launch({
    ...options,
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

/**
 * Bundles browser fixtures (TypeScript files that import `shared-session`) for the browser, one ES module per entry.
 * Returns `{ '<name>.js': code }`.
 */
export async function bundleFixtures(entries: Record<string, string>): Promise<Record<string, string>> {
  const result = await build({
    entryPoints: Object.entries(entries).map(([name, file]) => ({ in: path.resolve(root, file), out: name })),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['browser'],
    write: false,
    outdir: '/virtual',
    plugins: [builtPackage],
    logLevel: 'silent',
  });
  return Object.fromEntries(result.outputFiles.map((file) => [path.relative('/virtual', file.path), file.text]));
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
};

/**
 * Serves files from memory on the token server's origin, so pages, workers and the service worker are same-origin
 * with the token endpoint and the protected API, as in a real app behind one host.
 */
export function serveFiles(server: TokenServer, files: Record<string, string>): void {
  server.route((_req, res, url) => {
    const name = url.pathname.replace(/^\//, '') || 'index.html';
    const body = files[name];
    if (body === undefined) return false;
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
      // Lets a service worker served from a sub-path control the whole origin.
      'service-worker-allowed': '/',
    });
    res.end(body);
    return true;
  });
}

/** A minimal HTML page that loads one bundled module. */
export function pageLoading(script: string, title = 'shared-session test'): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><script type="module" src="/${script}"></script></body></html>`;
}
