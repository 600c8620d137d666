// The bundles whose size `npm run size` (size-limit, esbuild, minified, gzip) holds to a budget. A JS file, not JSON,
// for `modifyEsbuildConfig`: a server or Worker bundle is built with the conditions its runtime's bundler or loader
// resolves (package.json `imports`, e.g. `#default-sharing`), not with a browser's. scripts/size-breakdown.ts reads
// this file too.

/** What wrangler resolves for workerd (its default conditions; esbuild's default platform, `browser`). */
const asWranglerBundlesIt = (config) => ({ ...config, conditions: ['workerd', 'worker', 'browser'] });

/** What Node (or a bundler for Node) resolves: the `node` and `import` conditions. */
const asNodeLoadsIt = (config) => ({ ...config, platform: 'node' });

/** What Deno resolves in an npm package: `deno` first, then `node`. */
const asDenoLoadsIt = (config) => ({ ...config, conditions: ['deno', 'node'] });

export default [
  {
    "name": "browser core: createSession + clientCredentials + browser sharing, in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": "dist/index.js",
    "import": "{ createSession, clientCredentials, browserSharing }",
    "gzip": true,
    "limit": "18 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "browser core without Web Locks: createSession + clientCredentials + browser sharing + broadcast-channel's message election (the whole of it in one bundle)",
    "path": "dist/index.js",
    "import": "{ createSession, clientCredentials, browserSharing }",
    "gzip": true,
    "limit": "19.5 KB",
    "ignore": [
      "#dpop"
    ]
  },
  {
    "name": "browser core + createClient (ky), in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": [
      "dist/index.js",
      "dist/client.js"
    ],
    "import": {
      "dist/index.js": "{ createSession, clientCredentials, browserSharing }",
      "dist/client.js": "{ createClient }"
    },
    "gzip": true,
    "limit": "23 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "browser core + shared-session/oidc: oidcSession (oauth4webapi, browser sharing), in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": "dist/oidc.js",
    "import": "{ oidcSession }",
    "gzip": true,
    "limit": "32.5 KB",
    "ignore": [
      "#leader-election",
      "#oidc-dpop",
      "#dpop"
    ]
  },
  {
    "name": "shared-session/react: SessionProvider + hooks with oidcSession (react itself not counted), in a browser with Web Locks",
    "path": [
      "dist/oidc.js",
      "dist/react.js"
    ],
    "import": {
      "dist/oidc.js": "{ oidcSession }",
      "dist/react.js": "{ SessionProvider, useSession, useSignedIn, useUser, useToken }"
    },
    "ignore": [
      "react",
      "#leader-election",
      "#oidc-dpop",
      "#dpop"
    ],
    "gzip": true,
    "limit": "33 KB"
  },
  {
    "name": "shared-session/sentinel-hub: sentinelHub (core + client + preset), in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": "dist/sentinel-hub.js",
    "import": "{ sentinelHub }",
    "gzip": true,
    "limit": "26 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "shared-session/earth-engine: earthEngine + googleRefreshToken, in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": "dist/earth-engine.js",
    "import": "{ earthEngine, googleRefreshToken }",
    "gzip": true,
    "limit": "28 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "shared-session/earth-engine: fromSepalHeaders + sepalSessions, in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": "dist/earth-engine.js",
    "import": "{ fromSepalHeaders, sepalSessions }",
    "gzip": true,
    "limit": "27 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "shared-session/earth-engine: earthEngine + googleServiceAccount, in a browser with Web Locks (broadcast-channel's message election is a chunk loaded only without them)",
    "path": "dist/earth-engine.js",
    "import": "{ earthEngine, googleServiceAccount }",
    "gzip": true,
    "limit": "29 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "Cloudflare Worker: core + durableObjectSharing + TokenCoordinator",
    "modifyEsbuildConfig": asWranglerBundlesIt,
    "path": [
      "dist/index.js",
      "dist/cloudflare.js"
    ],
    "import": {
      "dist/index.js": "{ createSession, clientCredentials }",
      "dist/cloudflare.js": "{ durableObjectSharing, TokenCoordinator }"
    },
    "gzip": true,
    "limit": "16.5 KB",
    "ignore": [
      "#dpop"
    ]
  },
  {
    "name": "Node server fleet: core + redisSharing (SHA-256 keys), as Node loads it (broadcast-channel's message election is imported only where browser sharing runs without Web Locks, never in Node)",
    "modifyEsbuildConfig": asNodeLoadsIt,
    "path": [
      "dist/index.js",
      "dist/redis.js"
    ],
    "import": {
      "dist/index.js": "{ createSession, clientCredentials }",
      "dist/redis.js": "{ redisSharing }"
    },
    "gzip": true,
    "limit": "19 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "Deno Deploy: core + denoKvSharing (Deno KV), as Deno resolves it (#leader-election is lock-election.js there, already in the bundle)",
    "modifyEsbuildConfig": asDenoLoadsIt,
    "path": [
      "dist/index.js",
      "dist/deno-kv.js"
    ],
    "import": {
      "dist/index.js": "{ createSession, clientCredentials }",
      "dist/deno-kv.js": "{ denoKvSharing }"
    },
    "gzip": true,
    "limit": "21.5 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "shared-session/jwt: core + jwtClientCredentials, in a browser with Web Locks or in Node (broadcast-channel's message election is a chunk loaded only without Web Locks)",
    "path": [
      "dist/index.js",
      "dist/jwt.js"
    ],
    "import": {
      "dist/index.js": "{ createSession }",
      "dist/jwt.js": "{ jwtClientCredentials }"
    },
    "gzip": true,
    "limit": "20.5 KB",
    "ignore": [
      "#leader-election",
      "#dpop"
    ]
  },
  {
    "name": "shared-session/openeo: openEO + jwtClientCredentials, in a browser with Web Locks or in Node (broadcast-channel's message election is a chunk loaded only without Web Locks)",
    "path": [
      "dist/openeo.js",
      "dist/jwt.js"
    ],
    "import": {
      "dist/openeo.js": "{ openEO }",
      "dist/jwt.js": "{ jwtClientCredentials }"
    },
    "gzip": true,
    "limit": "30 KB",
    "ignore": [
      "#leader-election",
      "#dpop",
      "#openeo-device"
    ]
  },
  {
    "name": "shared-session/jwt: core + jwtClientCredentials, as Node loads it (#default-sharing is memory there: no browser sharing)",
    "modifyEsbuildConfig": asNodeLoadsIt,
    "path": [
      "dist/index.js",
      "dist/jwt.js"
    ],
    "import": {
      "dist/index.js": "{ createSession }",
      "dist/jwt.js": "{ jwtClientCredentials }"
    },
    "gzip": true,
    "limit": "15.5 KB",
    "ignore": [
      "#dpop"
    ]
  },
  {
    "name": "shared-session/openeo: openEO + jwtClientCredentials, as Node loads it (#default-sharing is memory there; the device sign-in is its own module)",
    "modifyEsbuildConfig": asNodeLoadsIt,
    "path": [
      "dist/openeo.js",
      "dist/jwt.js"
    ],
    "import": {
      "dist/openeo.js": "{ openEO }",
      "dist/jwt.js": "{ jwtClientCredentials }"
    },
    "gzip": true,
    "limit": "25.5 KB",
    "ignore": [
      "#dpop",
      "#openeo-device"
    ]
  },
  {
    "name": "shared-session/earth-engine: fromSepalHeaders + sepalSessions, as Node loads it (a SEPAL app's server; #default-sharing is memory there)",
    "modifyEsbuildConfig": asNodeLoadsIt,
    "path": "dist/earth-engine.js",
    "import": "{ fromSepalHeaders, sepalSessions }",
    "gzip": true,
    "limit": "22 KB",
    "ignore": [
      "#dpop"
    ]
  },
  {
    "name": "shared-session/earth-engine: earthEngine + googleServiceAccount, as Node loads it (#default-sharing is memory there)",
    "modifyEsbuildConfig": asNodeLoadsIt,
    "path": "dist/earth-engine.js",
    "import": "{ earthEngine, googleServiceAccount }",
    "gzip": true,
    "limit": "24.5 KB",
    "ignore": [
      "#dpop"
    ]
  }
];
