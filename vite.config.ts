import { builtinModules } from 'node:module';
import { defineConfig } from 'vitest/config';
import packageJson from './package.json' with { type: 'json' };
import { LongestFirstSequencer } from './test/support/longest-first-sequencer.js';

/** Public entry points: `src/<name>.ts` → `dist/<name>.js`; keep in step with `exports` in package.json. */
const entries = ['index', 'client', 'service-worker', 'maplibre', 'openlayers', 'leaflet', 'sentinel-hub', 'earth-engine', 'cloudflare', 'pool', 'redis', 'deno-kv', 'jwt', 'openeo', 'node', 'oidc', 'react', 'dpop'];

/**
 * Modules no public entry imports, reached through package.json `imports`: the leader election without Web Locks, and
 * the sign-in's DPoP (loaded only by sessions with `dpop`, so that the others do not count it in their bundle), and
 * the MapLibre helper's signing protocol (loaded by the first tile a DPoP session requests), openEO's device sign-in
 * (Node and Deno only; a stub elsewhere), and the default transport (`sharing/default` chooses at run time; Node and
 * workerd load `sharing/default-memory`, without browser sharing).
 */
const conditionalModules = [
  'sharing/default',
  'sharing/default-memory',
  'sharing/browser/lock-election',
  'sharing/browser/message-election',
  'oidc/dpop',
  'dpop/session-dpop',
  'dpop/browser-key',
  'dpop/no-origin-key',
  'maps/maplibre-protocol',
  'presets/openeo-device',
  'presets/openeo-device-unavailable',
];

/** The command line (`bin` in package.json): `src/cli/main.ts` → `dist/cli/main.js`, Node only. */
const binaries = ['cli/main'];

/**
 * The localSharing files that run one at a time (project `local-alone`): the pools whose 8 processes or threads do CPU
 * work (or each start tsx), and the files whose promises did not hold with another local file beside them on a
 * machine at load 25–50 (2026-12-07: exact token-request counts with a leader starved of CPU, CLI sign-ins within
 * their bound). The other localSharing files held every promise two at a time there (project `local`).
 */
const localAlone = [
  'test/local/pool-scenario.test.ts',
  'test/local/thread-pool-scenario.test.ts',
  'test/local/example-process-pool.test.ts',
  'test/local/pools.test.ts',
  'test/local/fleet.test.ts',
  'test/local/cli.test.ts',
  'test/local/silent-leader.test.ts',
  'test/local/late-answer-keeps-grant.test.ts',
  'test/local/refresh-late-answer-stopped-leader.test.ts',
  'test/local/review-leader-close-mid-refresh.test.ts',
  'test/local/review-close-refresh-beyond-timeout.test.ts',
  'test/local/review-cli-keychain-hang.test.ts',
  'test/local/review-cli-interrupt-refresh.test.ts',
];

const external = [
  ...Object.keys(packageJson.dependencies),
  ...Object.keys((packageJson as { peerDependencies?: Record<string, string> }).peerDependencies ?? {}),
  ...builtinModules,
  /^node:/,
  /^cloudflare:/,
  // The OS keychain binding of `deviceSignIn({ store: 'keychain' })`: optional, loaded by the app's runtime when asked.
  '@napi-rs/keyring',
  // package.json `imports`: resolved by the app's runtime or bundler, per condition (see conditionalModules).
  /^#/,
];

export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    minify: false,
    sourcemap: true,
    lib: {
      entry: Object.fromEntries([...entries, ...conditionalModules, ...binaries].map((name) => [name, `src/${name}.ts`])),
      formats: ['es'],
    },
    rollupOptions: {
      external: (id) => external.some((dep) => (typeof dep === 'string' ? id === dep || id.startsWith(`${dep}/`) : dep.test(id))),
      // One output file per source module, so that `.d.ts` files from tsc line up and apps tree-shake freely.
      output: { preserveModules: true, preserveModulesRoot: 'src', entryFileNames: '[name].js' },
    },
  },
  test: {
    // Within a group, the longest files start first (vitest's default order is by project, then by file size).
    sequence: { sequencer: LongestFirstSequencer },
    // Files run side by side, in three groups one after another (vitest's default on 2 cores is one file at a time:
    // 46 min, most of it waiting for tokens to expire and timeouts to pass, not CPU). Every file starts its own
    // servers, browsers, Redis, Xvfb display and scratch directory (localSharing's rendezvous directory included) on
    // ports and paths the OS picks, so files share nothing but the machine. A group runs as many files at once as its
    // projects' `maxWorkers`, which vitest requires to be the same for every project of the group. 1: the
    // browser-driving projects, 2 files at a time (each runs a browser or three). 2: the process-driving projects, 3
    // at a time (mostly waiting on sockets and timers). 3: localSharing files, 2 at a time, beside nothing else (a
    // leader starved of CPU for an answer timeout is replaced, at the cost of a token request). 4: one file at a
    // time, the local process pools, the localSharing files that need the machine to themselves, and the chaos soak,
    // whose freezes and kills should be the only chaos it sees.
    projects: [
      {
        test: {
          name: 'node',
          maxWorkers: 3,
          sequence: { groupOrder: 2 },
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      {
        // Node-side tests that drive Debian's Chromium with playwright-core (several pages, workers, crashes).
        test: {
          name: 'browser',
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          include: ['test/browser/**/*.test.ts'],
          // A worker runs file after file without importing playwright-core, esbuild and the support modules again
          // (≈ 10 s a file at load 30, most of a small file's time). The files keep no state in shared modules: each
          // starts its own servers and contexts in its hooks and stops them after. The one thing a worker keeps is its
          // Chromium (`acquireChromium`), for the files one after another, each in contexts of its own, closed after
          // it: a launch costs ≈ 1.9 s of CPU, a context ≈ 0.5 s. (One browser server shared by all the workers put
          // every page's protocol work on one Node thread, and the files took 48 % longer at load 30.)
          isolate: false,
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The sharing promises in every engine: Chromium (playwright-core), Firefox ESR (puppeteer-core over WebDriver
        // BiDi) and WebKitGTK (WebKitWebDriver + selenium-webdriver on an Xvfb display of its own); test/support/engines.
        test: {
          name: 'engines',
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          include: ['test/engines/**/*.test.ts'],
          environment: 'node',
          testTimeout: 90_000,
          hookTimeout: 90_000,
        },
      },
      {
        // `npm run demo` started as README says, driven in Chromium (WebGL on SwiftShader).
        test: {
          name: 'demo',
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          include: ['test/demo/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Example apps (examples/react-sign-in, examples/vue-sign-in) built by Vite in beforeAll and driven in Chromium
        // against the local OpenID provider: sign-in, pages, reload, a second tab, sign-out.
        test: {
          name: 'frameworks',
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          include: ['test/frameworks/**/*.test.ts'],
          environment: 'node',
          testTimeout: 90_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Several Node processes against a real redis-server (Debian package) and the real token server.
        test: {
          name: 'redis',
          maxWorkers: 3,
          sequence: { groupOrder: 2 },
          include: ['test/redis/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // `localSharing`: real Node processes, worker_threads and cluster workers on one Unix socket per credential,
        // against the real token server. Two files at a time: most of their time is spent waiting on sockets, answer
        // timeouts and tokens' lifetimes, and every promise about time is asserted against what the run measured.
        test: {
          name: 'local',
          maxWorkers: 2,
          sequence: { groupOrder: 3 },
          include: ['test/local/**/*.test.ts'],
          exclude: localAlone,
          environment: 'node',
          // A bound on a test, not a promise (those are asserted against what the run measured): every test here
          // forks processes or threads, seconds on an idle machine and up to a minute each at load 30 (the fleet's
          // 4 × 250 getToken took 35 s there, a CLI browser sign-in 31 s).
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The local process pools (8 processes or threads doing wall-clock CPU work each, or 8 processes that each
        // start tsx) and the localSharing files measured to need the machine to themselves (see localAlone). One file
        // at a time, beside nothing: two pools side by side on 2 cores would measure the machine, not the session.
        test: {
          name: 'local-alone',
          maxWorkers: 1,
          sequence: { groupOrder: 4 },
          include: localAlone,
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Real Deno (from the `deno` npm package) running the packed package, with workers, against the token server.
        test: {
          name: 'deno',
          maxWorkers: 3,
          sequence: { groupOrder: 2 },
          include: ['test/deno/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Node-side tests that drive workerd through Miniflare: Durable Objects, several isolates, real storage.
        test: {
          name: 'workers',
          maxWorkers: 3,
          sequence: { groupOrder: 2 },
          include: ['test/workers/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The RP conformance suite (test/conformance/): oidcSession in Chromium against a provider that misbehaves one
        // way per case (OpenID RP certification plan, RFC 9700, RFC 9207, OAuth for Browser-Based Apps).
        test: {
          name: 'conformance',
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          include: ['test/conformance/**/*.test.ts'],
          // Cases run side by side, each in its own iframe of one page per file.
          maxConcurrency: 8,
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The chaos soak in short mode (test/soak/): Chromium, the Redis fleet and local sharing under a seeded
        // schedule of crashes, kills, freezes, sign-outs, revocations and endpoint failures (≈ 80 s in all).
        test: {
          name: 'reliability',
          maxWorkers: 1,
          sequence: { groupOrder: 4 },
          include: ['test/soak/**/*.test.ts'],
          environment: 'node',
          testTimeout: 150_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
