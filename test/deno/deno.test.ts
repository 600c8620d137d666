import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { startRedisServer } from '../support/redis-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import type { Answer, Config, SentRequest } from './fixtures/protocol.js';

/**
 * Real Deno (the `deno` npm package's binary) running the packed package from an app's node_modules, imported both
 * as `npm:shared-session` and as `shared-session`. Each scenario is one `deno run` of fixtures/main.ts (with its
 * workers) against the real local token server; the server's counters are the proof.
 */

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let app = '';
const deno = DENO;

let server: TokenServer;
let config: Config;
const outputs: string[] = [];

beforeAll(async () => {
  server = await startTokenServer();
  const client = server.addClient('deno-app', 'deno-client-secret-0f3a9c');
  config = { tokenUrl: server.tokenUrl, apiUrl: server.apiUrl, clientId: client.id, clientSecret: client.secret };
  app = await denoApp('deno-app', path.join(import.meta.dirname, 'fixtures'));
  // Deno type-checks `node:` imports (node:assert in session_test.ts) with @types/node, as an app would install it.
  mkdirSync(path.join(app, 'node_modules/@types'));
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
}, 120_000);

afterAll(async () => {
  await server?.close();
});

/** Runs one scenario; returns what main.ts reported and how long the process lived. */
async function scenario<T>(name: string, overrides: Partial<Config> = {}): Promise<{ result: T; ms: number }> {
  const started = Date.now();
  const child = await run(
    deno,
    // Only what the package needs: the token server and API on loopback, and reading the app's modules.
    ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'main.ts', name, JSON.stringify({ ...config, ...overrides })],
    { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  ).catch((error: { stdout?: string; stderr?: string; killed?: boolean; signal?: string }) => {
    throw new Error(`deno run main.ts ${name} failed (${error.killed === true ? `killed: ${error.signal}` : 'exit'}):\n${error.stderr ?? ''}`);
  });
  outputs.push(child.stdout, child.stderr);
  const line = child.stdout.split('\n').find((each) => each.startsWith('RESULT '));
  if (line === undefined) throw new Error(`no RESULT from ${name}:\n${child.stdout}\n${child.stderr}`);
  return { result: JSON.parse(line.slice('RESULT '.length)) as T, ms: Date.now() - started };
}

/** The refresh margin of a token living `lifetime` ms: refreshBeforeExpiry (default 120 s) clamped to half of it. */
const refreshMargin = (lifetime: number): number => Math.min(120_000, lifetime / 2);

/** A token request as a context sent it, with its token's issuedAt as the session computed it (else when sent). */
interface Request extends SentRequest {
  readonly issuedAt: number;
}

/** Every token request these contexts sent, oldest first. */
function requestsSent(contexts: readonly Answer[]): Request[] {
  const issued = new Map(
    contexts.flatMap((answer) => answer.seen.filter((seen) => seen.event === 'authenticated').map((seen) => [seen.detail, seen.issuedAt] as const)),
  );
  return contexts
    .flatMap((answer) => answer.sent)
    .map((sent) => ({ ...sent, issuedAt: (sent.token !== undefined ? issued.get(sent.token) : undefined) ?? sent.sentAt }))
    .sort((a, b) => a.sentAt - b.sentAt);
}

/** When the token a request brought is due for refresh (epoch ms); undefined when it brought none. */
const dueAt = (request: Request): number | undefined =>
  request.expiresIn === undefined ? undefined : request.issuedAt + refreshMargin(request.expiresIn * 1000);

/**
 * The requests sent while the token of the request before them was not yet due for refresh: duplicates. A token that
 * came with less than its margin left (a slow answer on a loaded machine) was due on arrival, so the request after it
 * is not one. A request sent while the one before it was still in flight is one.
 */
function earlyRequests(requests: readonly Request[]): Request[] {
  return requests.filter((request, index) => {
    const previous = requests[index - 1];
    if (previous === undefined) return false;
    if (previous.answeredAt === undefined || previous.answeredAt > request.sentAt) return true;
    const due = dueAt(previous);
    return due !== undefined && request.sentAt < due;
  });
}

/** Answers that brought a token with no more than its refresh margin left: each makes the next request legitimate. */
const cameDue = (requests: readonly Request[]): Request[] =>
  requests.filter((request) => request.answeredAt !== undefined && dueAt(request) !== undefined && request.answeredAt >= dueAt(request)!);

/** Tokens handed out with no life left: never allowed. */
const expiredHandedOut = (contexts: readonly Answer[]): unknown[] =>
  contexts.flatMap((answer) => answer.handedOut.filter((handed) => handed.left <= 0));

/** The run's evidence for a failure message: the provider's log and each context's requests, relative to the first. */
function evidence(contexts: readonly Answer[]): string {
  const start = server.requests[0]?.receivedAt ?? 0;
  const at = (time: number | undefined): string => (time === undefined ? '-' : `${time - start} ms`);
  const provider = server.requests.map((request) => `received ${at(request.receivedAt)}, answered ${at(request.answeredAt)}, expires ${at(request.expiresAt)}`);
  const sent = requestsSent(contexts).map((request) => `sent ${at(request.sentAt)} (issuedAt ${at(request.issuedAt)}), answered ${at(request.answeredAt)}, due ${at(dueAt(request))}`);
  return `provider:\n  ${provider.join('\n  ')}\ncontexts:\n  ${sent.join('\n  ')}`;
}

const sameToken = (answers: readonly Answer[]): string => {
  const tokens = new Set(answers.flatMap((answer) => answer.tokens));
  expect(tokens.size).toBe(1);
  return [...tokens][0]!;
};

it('the packed package type-checks in Deno (deno check, types from node_modules)', async () => {
  await run(deno, ['check', '--cached-only', 'main.ts', 'worker.ts', 'session_test.ts', 'fleet.ts'], { cwd: app, timeout: 60_000 });
});

it('200 async tasks in the main module + 4 workers × 50 → 1 token request, one leader', async () => {
  server.reset();
  const { result } = await scenario<{ contexts: Answer[]; leaders: number }>('burst');
  expect(server.stats.tokenRequests).toBe(1);
  sameToken(result.contexts);
  expect(result.contexts.flatMap((answer) => answer.failures)).toEqual([]);
  expect(result.contexts.flatMap((answer) => answer.apiStatuses)).toEqual([200, 200, 200, 200, 200]);
  expect(result.contexts.reduce((sum, answer) => sum + answer.authenticated, 0)).toBe(1);
  expect(result.leaders).toBe(1);
});

it('3 s tokens for 8 s across the main module and 2 workers: refreshed ahead, one request per token lifetime, no failed call', async () => {
  server.reset();
  server.lifetime = 3;
  const { result } = await scenario<{ contexts: Answer[] }>('refresh');
  const requests = server.stats.tokenRequests;
  // refreshBeforeExpiry (120 s) is clamped to half the lifetime: a new token every 1.5 s, 8 s / 1.5 s ≈ 5–6.
  expect(requests).toBeGreaterThanOrEqual(4);
  expect(requests).toBeLessThanOrEqual(8);
  expect(result.contexts.flatMap((answer) => answer.failures)).toEqual([]);
  expect(result.contexts.flatMap((answer) => answer.apiStatuses).every((status) => status === 200)).toBe(true);
  expect(server.stats.apiUnauthorized).toBe(0);
  expect(expiredHandedOut(result.contexts)).toEqual([]);
  // Each context reported after every session was closed: every request the provider got is in their logs, and each
  // was sent once the token before it was due — no duplicate, whatever the load. (Not "every token issued was used":
  // one that came with less than its margin left, or the leader's last refresh as the loops ended, is used by nobody.)
  const sent = requestsSent(result.contexts);
  const answered = sent.filter((request) => request.status !== 0);
  // A request aborted at close may or may not have reached the provider.
  expect(requests, evidence(result.contexts)).toBeGreaterThanOrEqual(answered.length);
  expect(requests, evidence(result.contexts)).toBeLessThanOrEqual(sent.length);
  expect(earlyRequests(sent), evidence(result.contexts)).toEqual([]);
});

it('the leader worker terminated → another worker leads with the token it has (no second login), then refreshes it', async () => {
  server.reset();
  server.lifetime = 6;
  const { result } = await scenario<{
    firstLeader: Answer;
    before: Answer[];
    after: Answer[];
    successor: number;
    refreshed: Answer;
    closed: Answer[];
  }>('takeover');
  const token = sameToken(result.before);
  expect(sameToken(result.after)).toBe(token);
  expect(result.after.filter((answer) => answer.leader)).toHaveLength(1);
  expect(result.after.flatMap((answer) => answer.failures)).toEqual([]);
  expect(result.refreshed.authenticated).toBe(1);
  const contexts = [result.firstLeader, ...result.closed];
  expect(expiredHandedOut(contexts)).toEqual([]);
  const sent = requestsSent(contexts);
  // Each request was sent once the token before it was due: the successor's refresh too, so no second login.
  expect(earlyRequests(sent), evidence(contexts)).toEqual([]);
  // The first leader's login and the successor's refresh ahead of expiry; beyond them only what the machine forced:
  // one more request per token that came with no more than its margin left (an answer slower than 3 s here).
  expect(server.stats.tokenRequests, evidence(contexts)).toBe(2 + cameDue(sent).length);
});

it('clear() in one worker signs out the main module and the other worker; the next call gets a new token once', async () => {
  server.reset();
  const { result } = await scenario<{ first: Answer[]; cleared: Answer[]; second: Answer[] }>('clear');
  const first = sameToken(result.first);
  expect(result.cleared.map((answer) => answer.cleared)).toEqual([['remote'], ['local'], ['remote']]);
  const tokensAfter = new Set(result.second.flatMap((answer) => answer.tokens.filter((token) => token !== first)));
  expect(tokensAfter.size).toBe(1);
  expect(server.stats.tokenRequests).toBe(2);
});

it('typed errors: a malformed token response, an endpoint that is down; npm: and bare specifiers are one module', async () => {
  server.reset();
  server.respondNextWith('{"access_token": 42, "token_type": "Bearer"}');
  const { result } = await scenario<{
    malformed: { name: string; code: string; message: string; isSessionError: boolean };
    down: { name: string; code: string; message: string; isSessionError: boolean };
    sameModule: boolean;
  }>('errors');
  expect(result.malformed).toMatchObject({ name: 'SessionError', code: 'invalid_response', isSessionError: true });
  expect(result.down).toMatchObject({ name: 'SessionError', code: 'endpoint_unavailable', isSessionError: true });
  expect(result.sameModule).toBe(true);
});

it('a script that closes its session exits at once (nothing left holding Deno)', async () => {
  server.reset();
  const { result, ms } = await scenario<{ context: Answer }>('exit');
  expect(result.context.tokens).toHaveLength(1);
  expect(server.stats.tokenRequests).toBe(1);
  expect(ms).toBeLessThan(10_000);
});

it('deno test with node:assert: concurrent calls in one context, sign-out, and a typed error for each failure', async () => {
  server.reset();
  server.route((req, res, url) => {
    if (url.pathname === '/malformed') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token": 42}');
      return true;
    }
    if (url.pathname === '/busy') {
      res.writeHead(429, { 'retry-after': '120' }).end();
      return true;
    }
    return false;
  });
  const child = await run(
    deno,
    ['test', '--cached-only', '--allow-net=127.0.0.1', 'session_test.ts', '--', JSON.stringify(config)],
    { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno test failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });
  outputs.push(child.stdout, child.stderr);
  expect(child.stdout).toMatch(/ok \| 5 passed \| 0 failed/);
  // The first case's two authentications; the failing cases never reached /token.
  expect(server.stats.tokenRequests).toBe(2);
});

it('Deno servers of a fleet share one token through Redis (redisSharing, node-redis): 2 processes × 100 calls → 1 request', async () => {
  server.reset();
  const redis = await startRedisServer();
  try {
    const fleet = (): Promise<{ stdout: string; stderr: string }> =>
      run(
        deno,
        // node-redis (not this package) reads environment variables: --allow-env.
        ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, '--allow-env', 'fleet.ts', redis.url, JSON.stringify(config)],
        { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
      );
    const children = await Promise.all([fleet(), fleet()]);
    outputs.push(...children.flatMap((child) => [child.stdout, child.stderr]));
    const results = children.map((child) => {
      const line = child.stdout.split('\n').find((each) => each.startsWith('RESULT '));
      return JSON.parse(line!.slice('RESULT '.length)) as { tokens: string[]; authenticated: number };
    });
    expect(server.stats.tokenRequests).toBe(1);
    expect(new Set(results.flatMap((result) => result.tokens)).size).toBe(1);
    expect(results.map((result) => result.authenticated).sort()).toEqual([0, 1]);
  } finally {
    await redis.stop();
  }
});

it('no client secret in anything Deno printed', () => {
  expect(outputs.join('\n')).not.toContain(config.clientSecret);
});
