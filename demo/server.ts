/**
 * `npm run demo`: the stand-in service, the demo's backend and the Vite dev server for the page, on one origin
 * (127.0.0.1), so that the page, its service worker and the "remote" service are same-origin as in a real app behind
 * one host; beside them, on its own port, a local OpenID provider (oidc-provider, the one the tests use) where any
 * user name signs in.
 *
 * Env: DEMO_PORT (default 5173; the next free port when taken), DEMO_TOKEN_LIFETIME (seconds, default 60).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { startOpenIdProvider, type OpenIdProvider } from '../test/support/openid-provider.js';
import { CONFIG_PATH, type DemoConfig, SIGN_IN_CLIENT_ID, SIGN_IN_SCOPE, TILE_PATH, TOKEN_LIFETIME, TOKEN_PATH } from './config.js';
import { createBackend } from './service/backend.js';
import { createStandIn } from './service/stand-in.js';

const demoDir = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.resolve(demoDir, '..');
const src = path.join(repoDir, 'src');

const port = Number(process.env.DEMO_PORT ?? 5173);
const lifetime = Number(process.env.DEMO_TOKEN_LIFETIME ?? TOKEN_LIFETIME);
if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`DEMO_PORT must be a port number, got ${process.env.DEMO_PORT}`);
if (!(lifetime > 0)) throw new Error(`DEMO_TOKEN_LIFETIME must be a positive number of seconds`);

// The OpenID provider starts once the page's URL (its redirect URI) is known; until then nothing can sign in.
const started: { provider?: OpenIdProvider; pageUrl?: string } = {};
const standIn = createStandIn({
  lifetime,
  // Tiles take the provider's access tokens too: the ones signed-in users hold.
  introspect: async (accessToken) => (await started.provider?.introspect(accessToken))?.active ?? false,
  signIns: () => {
    const counts = started.provider?.counts;
    return { codeExchanges: counts?.codeExchanges ?? 0, refreshRequests: counts?.refreshRequests ?? 0, reusedRefreshTokens: counts?.reusedRefreshTokens ?? 0 };
  },
});
const backend = createBackend({ tokenUrl: () => new URL(TOKEN_PATH, started.pageUrl).href });

const vite = await createServer({
  configFile: false,
  root: demoDir,
  cacheDir: path.join(repoDir, 'node_modules/.vite/demo'),
  clearScreen: false,
  // Vite's notes stay visible: a page it reloads (a dependency optimized late, an edit in src/) says so here.
  logLevel: 'info',
  resolve: {
    // The demo runs on the library's sources: no build step, and edits in src/ reload the page.
    alias: [
      { find: /^shared-session$/, replacement: path.join(src, 'index.ts') },
      { find: /^shared-session\/(.+)$/, replacement: path.join(src, '$1.ts') },
    ],
  },
  server: { host: '127.0.0.1', port, strictPort: false, fs: { allow: [repoDir] } },
  optimizeDeps: {
    // The service worker is registered by URL, not imported: name it so its dependencies are pre-bundled up front
    // (otherwise Vite finds them on first load and reloads the page).
    entries: ['index.html', 'sw.ts'],
    // MapLibre loads its worker from next to its own module (import.meta.url): serve it as published.
    exclude: ['maplibre-gl'],
  },
  plugins: [
    {
      name: 'shared-session-stand-in',
      configureServer(server) {
        server.middlewares.use(standIn.handle);
        server.middlewares.use(backend);
        server.middlewares.use((req, res, next) => {
          const { provider } = started;
          if (req.url !== CONFIG_PATH || provider === undefined) return next();
          const config: DemoConfig = { issuer: provider.issuer, clientId: SIGN_IN_CLIENT_ID, scope: SIGN_IN_SCOPE };
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(config));
        });
      },
    },
  ],
});

await vite.listen();
const url = vite.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`;
started.pageUrl = url;
const provider = (started.provider = await startOpenIdProvider({
  clients: [{ clientId: SIGN_IN_CLIENT_ID, redirectUris: [url], postLogoutRedirectUris: [url] }],
  accessTokenTtl: lifetime,
}));
provider.subscribe(() => standIn.changed());
console.log(`
  shared-session demo

  Open        ${url}
  Sign in     OpenID provider ${provider.issuer} (any user name), tokens live ${lifetime} s
  Stand-in    tiles ${TILE_PATH}{z}/{x}/{y}.png; token endpoint ${TOKEN_PATH} for ${url}?mode=client-credentials
  Stop        Ctrl+C
`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  standIn.close();
  await started.provider?.close();
  await vite.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
