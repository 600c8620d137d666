import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { builtPackage } from './built-package.js';
import { Miniflare, type WorkerOptions } from 'miniflare';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTokenServer, type TokenServer } from './token-server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
/** Bundles and scratch files of the workers tests (git-ignored). */
export const scratch = path.join(root, 'test-results/workers');

/** The `compatibility_date` the tests run with: the one the example deploys with. */
export const compatibilityDate = /compatibility_date\s*=\s*"([\d-]+)"/.exec(
  readFileSync(path.join(root, 'examples/cloudflare/wrangler.toml'), 'utf8'),
)?.[1];

/** Bundles a test Worker (a TypeScript module importing the built package) as wrangler would; returns its path. */
export async function bundleWorker(entry: string, name: string): Promise<string> {
  const outfile = path.join(scratch, `${name}.js`);
  await build({
    entryPoints: [path.resolve(root, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    // wrangler's conditions, so that dependencies pick their Workers builds.
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    plugins: [builtPackage],
    logLevel: 'silent',
  });
  return outfile;
}

/**
 * Builds an example (default `examples/cloudflare`) exactly as a user would deploy it — `wrangler deploy --dry-run` reads its
 * wrangler.toml and bundles it — after type-checking it with the Workers types. `shared-session` resolves to this
 * package's `dist/` through a node_modules link, as an installed dependency would. Returns the bundle's path.
 */
export async function buildExample(example = 'cloudflare'): Promise<string> {
  const dir = path.join(scratch, example === 'cloudflare' ? 'example' : `example-${example}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'node_modules/@cloudflare'), { recursive: true });
  const skip = new Set(['node_modules', 'out', '.wrangler']);
  cpSync(path.join(root, 'examples', example), dir, { recursive: true, filter: (source) => !skip.has(path.basename(source)) });
  symlinkSync(root, path.join(dir, 'node_modules/shared-session'), 'dir');
  symlinkSync(path.join(root, 'node_modules/@cloudflare/workers-types'), path.join(dir, 'node_modules/@cloudflare/workers-types'), 'dir');
  await exec(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], dir);
  await exec(
    process.execPath,
    // --metafile: esbuild's list of what went in (out/bundle-meta.json), for the test that workerd gets no browser code.
    [path.join(root, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', 'out', '--metafile'],
    dir,
    // No banner means no update check; no metrics: the tests reach loopback only.
    { WRANGLER_HIDE_BANNER: 'true', WRANGLER_SEND_METRICS: 'false', CI: 'true' },
  );
  return path.join(dir, 'out/index.js');
}

async function exec(file: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<void> {
  try {
    await run(file, args, { cwd, env: { ...process.env, ...env }, timeout: 120_000 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${path.basename(args[0] ?? file)} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error });
  }
}

export interface WorkersOptions {
  /** The bundled Worker module; it must export `TokenCoordinator`. */
  readonly script: string;
  /** Separate Workers (separate isolates, separate module state) running the script. Default 4. */
  readonly instances?: number;
  /** Vars and secrets of every instance. */
  readonly bindings: Record<string, string>;
  /** Durable Object storage directory, kept across `Miniflare` instances. Default: in memory. */
  readonly persist?: string;
  /** Name of the Durable Object binding. Default `TOKEN_COORDINATOR`. */
  readonly binding?: string;
  /** Receives workerd's stdout and stderr (the Workers' console), e.g. for the secrets scan. Default: Miniflare's. */
  readonly stdio?: (stdout: Readable, stderr: Readable) => void;
}

/**
 * Several Workers running one script in workerd, all bound to the `TokenCoordinator` class of the first one: one
 * Durable Object namespace shared by separate isolates, as on Cloudflare where each isolate has its own memory.
 */
export async function startWorkers(options: WorkersOptions): Promise<{ mf: Miniflare; names: string[] }> {
  const { script, instances = 4, bindings, persist, binding = 'TOKEN_COORDINATOR', stdio } = options;
  const names = Array.from({ length: instances }, (_, index) => `worker-${index}`);
  const workers: WorkerOptions[] = names.map((name, index) => ({
    name,
    modules: true,
    scriptPath: script,
    compatibilityDate,
    bindings,
    durableObjects: { [binding]: index === 0 ? 'TokenCoordinator' : { className: 'TokenCoordinator', scriptName: names[0] } },
  }));
  const mf = new Miniflare({
    workers,
    ...(persist === undefined ? {} : { durableObjectsPersist: persist }),
    ...(stdio === undefined ? {} : { handleRuntimeStdio: stdio }),
  });
  await mf.ready;
  return { mf, names };
}

/**
 * A lease holder's own token request (client credentials against the real token server), with the token's times as
 * the library computes them: from the time the request was sent. For tests that speak the coordinator's protocol.
 */
export async function fetchTokenAsHolder(
  server: TokenServer,
  client: { id: string; secret: string },
): Promise<{ accessToken: string; tokenType: string; issuedAt: number; expiresAt: number }> {
  const sentAt = Date.now();
  const response = await fetch(server.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }).toString(),
  });
  const body = (await response.json()) as { access_token: string; expires_in: number };
  return { accessToken: body.access_token, tokenType: 'Bearer', issuedAt: sentAt, expiresAt: sentAt + body.expires_in * 1000 };
}

/** An answer of the probe Worker's session routes (`/shared`, `/rotating`, `/default`). */
export interface ProbeReply {
  status: number;
  token?: string;
  error?: string;
  message?: string;
  leader?: boolean;
}

/** The probe Worker (test/workers/fixtures/probe.ts) against a real token server, started and stopped per test. */
export interface ProbeHarness {
  readonly server: TokenServer;
  readonly client: { id: string; secret: string };
  /** Starts `instances` Workers (default 2) running the probe; stopped after each test unless `stop`ped before. */
  start(options?: {
    instances?: number;
    persist?: string;
    bindings?: Record<string, string>;
    stdio?: WorkersOptions['stdio'];
  }): Promise<{ mf: Miniflare; names: string[] }>;
  /** Disposes one Miniflare (a Durable Object restart when storage is persisted). */
  stop(mf: Miniflare): Promise<void>;
  /** A GET to a probe route, parsed. */
  get(mf: Miniflare, name: string, route: string): Promise<ProbeReply>;
  /** Speaks the coordinator's protocol directly (the probe's `/raw`), as an isolate on another machine would. */
  raw(mf: Miniflare, name: string, message: unknown, query?: string): Promise<{ status: number; body: Record<string, unknown> | undefined }>;
}

/**
 * Registers the hooks of a workers test file: one token server with one client for the file, the probe bundled once,
 * every Miniflare disposed and the server reset after each test.
 */
export function useProbeWorkers(clientId: string, secret: string): ProbeHarness {
  const running: Miniflare[] = [];
  let server: TokenServer | undefined;
  let client: { id: string; secret: string } | undefined;
  let probe: string | undefined;
  beforeAll(async () => {
    server = await startTokenServer();
    client = server.addClient(clientId, secret);
    probe = await bundleWorker('test/workers/fixtures/probe.ts', `probe-${clientId}`);
  }, 120_000);
  afterAll(() => server?.close());
  afterEach(async () => {
    await Promise.all(running.splice(0).map((mf) => mf.dispose()));
    server?.reset();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useProbeWorkers: used outside a test');
    return value;
  };
  return {
    get server() {
      return ready(server);
    },
    get client() {
      return ready(client);
    },
    async start({ instances = 2, persist, bindings = {}, stdio } = {}) {
      const env = {
        TOKEN_URL: ready(server).tokenUrl,
        API_URL: ready(server).apiUrl,
        CLIENT_ID: ready(client).id,
        CLIENT_SECRET: ready(client).secret,
        REFRESH_TOKEN: 'unused',
        ...bindings,
      };
      const started = await startWorkers({
        script: ready(probe),
        instances,
        bindings: env,
        ...(persist === undefined ? {} : { persist }),
        ...(stdio === undefined ? {} : { stdio }),
      });
      running.push(started.mf);
      return started;
    },
    async stop(mf) {
      const index = running.indexOf(mf);
      if (index >= 0) running.splice(index, 1);
      await mf.dispose();
    },
    async get(mf, name, route) {
      return (await (await (await mf.getWorker(name)).fetch(`http://worker${route}`)).json()) as ProbeReply;
    },
    async raw(mf, name, message, query = '') {
      const worker = await mf.getWorker(name);
      const key = await (await worker.fetch(`http://worker/key${query}`)).text();
      const body = typeof message === 'string' ? message : JSON.stringify(message);
      const response = await worker.fetch(`http://worker/raw?key=${encodeURIComponent(key)}`, { method: 'POST', body });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
    },
  };
}
