import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import type { TokenServer } from './token-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Debian's Chromium, headless, with the flags this machine's closed network needs. Never downloads a browser. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
    ],
  });
}

/**
 * Resolves `shared-session` and `shared-session/<entry>` through the package's own `exports` map to `dist/`, so that
 * browser fixtures import the *built* package exactly as an app's bundler would. (`npm test` builds first.)
 */
const builtPackage: Plugin = {
  name: 'shared-session-dist',
  setup(esbuild) {
    const exportsMap = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { default: string } | string>;
    }).exports;
    esbuild.onResolve({ filter: /^shared-session(\/.*)?$/ }, (args) => {
      const subpath = `.${args.path.slice('shared-session'.length)}`;
      const target = exportsMap[subpath];
      if (target === undefined) return { errors: [{ text: `shared-session does not export ${subpath}` }] };
      return { path: path.join(root, typeof target === 'string' ? target : target.default) };
    });
  },
};

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
