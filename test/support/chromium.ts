import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, version as esbuildVersion } from 'esbuild';
import { builtPackage } from './built-package.js';
import { cachedBundle, storeBundle } from './fixture-cache.js';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';
import type { TokenServer } from './token-server.js';

/** WebGL without a GPU: ANGLE on SwiftShader, Chromium's software renderer. */
export const WEBGL_ARGS: readonly string[] = ['--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Debian's Chromium, headless, with the flags this machine's closed network needs. Never downloads a browser.
 * `extraArgs` are appended, e.g. `WEBGL_ARGS` for pages that draw with WebGL; `ignoreDefaultArgs` drops some of
 * playwright's own (e.g. `--disable-popup-blocking`, to see Chromium's popup blocker at work, or
 * `--disable-back-forward-cache`, so that a page left and gone back to is restored from the back/forward cache).
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

/** The Chromium of each launch's options in this test worker (`acquireChromium`), and the browsers it lends. */
const sharedBrowsers = new Map<string, Promise<Browser>>();
const lent = new WeakSet<Browser>();

/**
 * A Chromium for the calling test file, to give back with `releaseChromium` after it. In the browser project a
 * worker runs its files one after another in one module graph (`isolate: false`), so there it is one Chromium per
 * worker and launch options, shared by the files one after another: a launch with its first page costs ≈ 1.9 s of
 * CPU on this machine, a new context ≈ 0.5 s, and 60-odd files launch one. Files share nothing through it: each works
 * in contexts of its own (separate storage, locks, channels, service workers and caches), and `releaseChromium`
 * closes every context the file left open, its pages and workers with them. A browser that crashed or was closed is
 * launched anew for the next file. Elsewhere (a fresh module graph per file) it is `launchChromium`.
 */
export async function acquireChromium(extraArgs: readonly string[] = [], options: Pick<LaunchOptions, 'ignoreDefaultArgs'> = {}): Promise<Browser> {
  const worker = (globalThis as { __vitest_worker__?: { config?: { isolate?: boolean } } }).__vitest_worker__;
  if (worker?.config?.isolate !== false) return launchChromium(extraArgs, options);
  const key = JSON.stringify([extraArgs, options]);
  let launching = sharedBrowsers.get(key);
  if (launching === undefined || !(await launching.then((browser) => browser.isConnected(), () => false))) {
    launching = launchChromium(extraArgs, options);
    sharedBrowsers.set(key, launching);
  }
  const browser = await launching;
  lent.add(browser);
  return browser;
}

/** After the file: closes the contexts it left open in a shared Chromium, or the Chromium it had to itself. */
export async function releaseChromium(browser: Browser | undefined): Promise<void> {
  if (browser === undefined) return;
  if (!lent.has(browser)) return browser.close();
  await Promise.all(browser.contexts().map((context) => context.close()));
}

/** esbuild's options for every fixture bundle, as the tests and as the benches' shipped pages build them. */
const FIXTURE_BUILD = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['browser'],
  write: false,
  outdir: '/virtual',
  plugins: [builtPackage],
  logLevel: 'silent',
} as const satisfies BuildOptions;

/**
 * Bundles browser fixtures (TypeScript files that import `shared-session`) for the browser, one ES module per entry.
 * Returns `{ '<name>.js': code }`. Each entry's bundle is kept on disk (test/support/fixture-cache.ts) and reused
 * while none of its inputs changed, so that the many test files of a run bundle each fixture once. `shipped`: as an
 * app ships each of them (the benches), see bundleAsShipped.
 */
export async function bundleFixtures(entries: Record<string, string>, { shipped = false } = {}): Promise<Record<string, string>> {
  if (shipped) return bundleAsShipped(entries);
  const cached = await Promise.all(Object.entries(entries).map(async ([name, file]) => [name, file, await cachedBundle(file, esbuildVersion)] as const));
  const missing = cached.filter(([, , code]) => code === undefined);
  const files: Record<string, string> = Object.fromEntries(cached.filter(([, , code]) => code !== undefined).map(([name, , code]) => [`${name}.js`, code!]));
  if (missing.length === 0) return files;
  const startedAt = Date.now();
  const result = await build({
    entryPoints: missing.map(([name, file]) => ({ in: path.resolve(root, file), out: name })),
    absWorkingDir: root,
    ...FIXTURE_BUILD,
    metafile: true,
  });
  const outputs = Object.entries(result.metafile.outputs);
  const inputs = Object.keys(result.metafile.inputs);
  await Promise.all(
    result.outputFiles.map(async (output) => {
      const name = path.relative('/virtual', output.path);
      files[name] = output.text;
      const [, meta] = outputs.find(([file]) => path.resolve(root, file) === output.path) ?? [];
      const entry = missing.find(([each]) => `${each}.js` === name);
      if (meta?.entryPoint !== undefined && entry !== undefined) await storeBundle(entry[1], esbuildVersion, output.text, inputs, startedAt);
    }),
  );
  return files;
}

/**
 * The fixtures as an app ships each of them: minified, bundled alone (no chunk shared between entries: each page loads
 * one file), and each dynamic import in a chunk of its own (`chunk-<hash>.js`, also returned) that is downloaded only
 * if it runs. Not cached: the benches bundle once per run.
 */
async function bundleAsShipped(entries: Record<string, string>): Promise<Record<string, string>> {
  const bundle = async ([name, file]: [string, string]): Promise<Array<[string, string]>> => {
    const result = await build({
      entryPoints: [{ in: path.resolve(root, file), out: name }],
      ...FIXTURE_BUILD,
      minify: true,
      splitting: true,
    });
    return result.outputFiles.map((output) => [path.relative('/virtual', output.path), output.text]);
  };
  return Object.fromEntries((await Promise.all(Object.entries(entries).map(bundle))).flat());
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

/**
 * A minimal HTML page that loads one bundled module. `preload`: the chunks that module imports (`bundleFixtures` with
 * `shipped`), fetched beside it as a bundler's HTML asks (`<link rel="modulepreload">`), not after it.
 */
export function pageLoading(script: string, title = 'shared-session test', preload: readonly string[] = []): string {
  const links = preload.map((chunk) => `<link rel="modulepreload" href="/${chunk}">`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${links}</head><body><script type="module" src="/${script}"></script></body></html>`;
}

/** The chunks that module `name` of `files` (from `bundleFixtures`) imports statically, its own imports' too. */
export function staticChunks(files: Record<string, string>, name: string): string[] {
  const found = new Set<string>();
  const visit = (file: string): void => {
    // esbuild's ESM output, minified or not: `from "./chunk-X.js"` and `import "./chunk-X.js"`, never `import(`.
    for (const [, chunk] of (files[file] ?? '').matchAll(/(?:\bfrom|\bimport)\s*["']\.\/([\w.-]+\.js)["']/g)) {
      if (chunk !== undefined && !found.has(chunk)) {
        found.add(chunk);
        visit(chunk);
      }
    }
  };
  visit(name);
  return [...found];
}
