// The dependency rule of src/ (README, "Code map"), checked by `npm run check:deps` in `npm test`.
// Dependencies point one way: entries → capabilities → core. Interfaces that two layers share (the `Sharing`
// contract in sharing/sharing.ts, the `TokenProvider` contract in providers/provider.ts) may be imported as types.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-only-contracts',
      comment: 'core/ holds session state, freshness, errors and events: no transport, HTTP client, preset, map or server code',
      severity: 'error',
      from: { path: '^src/core/' },
      to: {
        path: '^src/(?!core/)',
        pathNot: ['^src/sharing/sharing\\.ts$', '^src/providers/provider\\.ts$'],
      },
    },
    {
      name: 'core-imports-only-contracts-as-types',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: ['^src/sharing/sharing\\.ts$', '^src/providers/provider\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'providers-know-nothing-of-sharing',
      comment: 'providers get tokens; where a token goes is the transports\' business',
      severity: 'error',
      from: { path: '^src/providers/' },
      to: { path: '^src/(sharing|session|http|maps|presets|server)/' },
    },
    {
      name: 'sharing-mints-no-token',
      comment: 'transports decide where the one fetch runs; only the session (through SharingPeer) calls a provider',
      severity: 'error',
      from: { path: '^src/sharing/' },
      to: { path: '^src/(providers|session|http|maps|presets|server)/' },
    },
    {
      name: 'http-and-maps-use-the-session-only',
      severity: 'error',
      from: { path: '^src/(http|maps)/' },
      to: { path: '^src/(providers|sharing|session|presets|server)/' },
    },
    {
      name: 'presets-compose-public-entries',
      comment: 'presets use the public entries (and provider building blocks), never a transport or another capability\'s internals',
      severity: 'error',
      from: { path: '^src/presets/' },
      to: { path: '^src/(sharing|session|http|maps|server)/' },
    },
    {
      name: 'oidc-shares-through-the-session',
      comment:
        'the sign-in (src/oidc/) uses the core, the providers\' building blocks and the session (createSession, with the ' +
        'default transport or the one the app passes); never a transport directly, an HTTP client, a preset, a map or the pool',
      severity: 'error',
      from: { path: '^src/oidc/' },
      to: { path: ['^src/(http|maps|presets|server)/', '^src/sharing/(?!sharing\\.ts$)'] },
    },
    {
      name: 'capabilities-do-not-import-entries',
      comment: 'entries re-export capabilities; a capability importing an entry would turn the arrows around (presets excepted)',
      severity: 'error',
      from: { path: '^src/(core|providers|sharing|session|http|maps|server|oidc|device)/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'browser-core-entry-pulls-no-server-code',
      comment: 'what a browser bundles for `shared-session` must not reach Node built-ins, Redis, Durable Objects, Deno KV, the pool or local (Unix socket) sharing',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: {
        reachable: true,
        path: ['^src/(server|sharing/redis|sharing/cloudflare|sharing/deno-kv|sharing/local)/', '^node_modules/(redis|ioredis|@redis)/', '^cloudflare:'],
      },
    },
    {
      name: 'web-apis-only',
      comment:
        'every module runs unchanged in browsers, Deno, workerd and Node: no Node built-in anywhere in src/, except in ' +
        'src/sharing/local/ (Unix domain sockets and the checks of their directory need node:net, node:fs, node:os, ' +
        'node:path), and src/device/ (the device sign-in keeps its refresh token in a file: node:fs, node:os, ' +
        'node:path), which only the Node-only entry src/node.ts re-exports, and src/cli/ (the command line, a Node program ' +
        'that no entry imports)',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/sharing/local/', '^src/device/', '^src/cli/'] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'local-sharing-only-through-the-node-entry',
      comment: 'src/sharing/local/ imports Node built-ins: only the Node-only entry src/node.ts may import it',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/node\\.ts$', '^src/sharing/local/', '^src/device/'] },
      to: { path: '^src/sharing/local/' },
    },
    {
      name: 'device-sign-in-only-through-the-node-entry',
      comment:
        'src/device/ imports Node built-ins and local sharing: only the Node-only entry src/node.ts may import it (and ' +
        'the command line, which adopts a browser sign-in into it)',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/node\\.ts$', '^src/device/', '^src/cli/'] },
      to: { path: '^src/device/' },
    },
    {
      name: 'nothing-imports-the-command-line',
      comment: 'src/cli/ is the `shared-session` program (package.json `bin`): it uses the library, the library never uses it',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'deno-kv-sharing-stands-alone',
      comment: 'the Deno KV transport uses the core and the Sharing contract only: no other transport comes with it to Deno Deploy',
      severity: 'error',
      from: { path: '^src/sharing/deno-kv/' },
      to: { path: '^src/sharing/(?!deno-kv/|sharing\\.ts$)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test|bench|demo|examples|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'] },
  },
};
