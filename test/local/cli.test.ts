import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, startCli } from '../support/cli-process.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { signInAsBrowser } from '../support/fetch-browser.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { solidPng } from '../support/tiles.js';

/**
 * `shared-session`, the command line, as people run it: `node dist/cli/main.js` in real processes against a real
 * OpenID provider (oidc-provider: device flow, refresh-token rotation, revocation), the person played with fetch
 * through the provider's own pages, the token handed to a real `curl`, and a batch of processes sharing the session.
 */

const clientId = 'cli';
let provider: OpenIdProvider;
let tiles: Server;
let tileUrl: string;
let home: string;
let env: Record<string, string | undefined>;
/** Every access token the command line printed: none may appear on any stderr. */
const printed = new Set<string>();
/** Every refresh token stored: never on any stdout or stderr. */
const refreshTokens = new Set<string>();
const stdouts: string[] = [];
const stderrs: string[] = [];
let batch: ChildProcess[] = [];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const configDir = (): string => path.join(home, 'config', 'shared-session');

async function cli(args: readonly string[], extra: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await runCli(args, { ...env, ...extra });
  stderrs.push(result.stderr);
  stdouts.push(result.stdout);
  return result;
}

/** `login` with the device flow, the person approving (or refusing) through the provider's pages. */
async function deviceLogin(args: readonly string[], choices: { deny?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = startCli(['login', '--device', ...args], env);
  const [, where, userCode] = await run.waitForStderr(/open\n\n {2}(\S+)\n\nand enter the code (\S+)\./);
  await approveDeviceSignIn(where!, userCode!, { login: 'alice', refuse: choices.deny === true });
  const code = await run.exit;
  stderrs.push(run.stderr());
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

beforeAll(async () => {
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/callback'], applicationType: 'native' }], deviceFlow: true });
  // A stand-in tile server that serves only to a live access token of the provider (as an API would check it).
  const png = solidPng(8, [0, 128, 255]);
  tiles = createServer((req, res) => {
    const header = req.headers.authorization ?? '';
    void provider.introspect(header.startsWith('Bearer ') ? header.slice(7) : '').then((found) => {
      if (!found.active) res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('unauthorized');
      else res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
  });
  await new Promise<void>((resolve) => tiles.listen(0, '127.0.0.1', resolve));
  tileUrl = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}/tiles/3/4/2.png`;
  home = mkdtempSync(path.join(tmpdir(), 'cli-'));
  mkdirSync(path.join(home, 'run'), { mode: 0o700 });
  // A user of their own: configuration and the rendezvous directory in a temporary home; no desktop, so no browser.
  env = { XDG_CONFIG_HOME: path.join(home, 'config'), XDG_RUNTIME_DIR: path.join(home, 'run'), DISPLAY: '', WAYLAND_DISPLAY: '', BROWSER: undefined, SHARED_SESSION_PROFILE: undefined };
});

afterEach(() => {
  for (const child of batch) child.kill('SIGKILL');
  batch = [];
});

afterAll(async () => {
  tiles.closeAllConnections();
  await new Promise((resolve) => tiles.close(resolve));
  await provider.close();
  rmSync(home, { recursive: true, force: true });
  // Never a token on stderr, whatever happened.
  for (const stderr of stderrs) for (const token of printed) expect(stderr).not.toContain(token);
  expect(refreshTokens.size).toBeGreaterThan(0);
  for (const output of [...stderrs, ...stdouts]) for (const token of refreshTokens) expect(output).not.toContain(token);
});

describe('shared-session, signed in with the device flow', () => {
  it('login: the prompt on stderr, approved on the provider\'s pages, nothing on stdout; profile and token stored 0600', async () => {
    const result = await deviceLogin(['--issuer', provider.issuer, '--client-id', clientId]);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toMatch(/Signed in \(profile default\); the access token is valid until \d{4}-/);
    expect(statSync(configDir()).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(configDir())) expect(statSync(path.join(configDir(), file)).mode & 0o777, file).toBe(0o600);
    expect(readdirSync(configDir()).sort()).toEqual([expect.stringMatching(/^device-.+\.json$/), 'profiles.json']);
    const stored = readdirSync(configDir()).find((file) => file.startsWith('device-'))!;
    refreshTokens.add((JSON.parse(readFileSync(path.join(configDir(), stored), 'utf8')) as { refreshToken: string }).refreshToken);
    expect(readFileSync(path.join(configDir(), 'profiles.json'), 'utf8')).not.toContain([...refreshTokens][0]);
  });

  it('token: a live access token on stdout and nothing else; --json gives access_token, token_type, expires_at', async () => {
    const plain = await cli(['token']);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toMatch(/^[^\s]+\n$/);
    const accessToken = plain.stdout.trim();
    printed.add(accessToken);
    expect(await provider.introspect(accessToken)).toMatchObject({ active: true, sub: 'alice', clientId });
    const json = await cli(['token', '--json']);
    const parsed = JSON.parse(json.stdout) as { access_token: string; token_type: string; expires_at: number };
    printed.add(parsed.access_token);
    expect(Object.keys(parsed)).toEqual(['access_token', 'token_type', 'expires_at']);
    expect(parsed.token_type).toBe('Bearer');
    expect(parsed.expires_at * 1000).toBeGreaterThan(Date.now());
  });

  it('token as GDAL_HTTP_BEARER and in curl -H "Authorization: Bearer $(shared-session token)": the tile server answers 200', async () => {
    const shell = `curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(node '${CLI}' token)" '${tileUrl}'`;
    const { stdout: direct } = await promisify(execFile)('sh', ['-c', shell], { env: { ...process.env, ...clean(env) } });
    expect(direct).toBe('200');
    // As GDAL reads it: the variable set from the command's output, then sent as the Bearer header.
    const gdal = `export GDAL_HTTP_BEARER="$(node '${CLI}' token)" && curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GDAL_HTTP_BEARER" '${tileUrl}'`;
    const { stdout: viaVariable } = await promisify(execFile)('sh', ['-c', gdal], { env: { ...process.env, ...clean(env) } });
    expect(viaVariable).toBe('200');
    const refused = await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Authorization: Bearer not-a-token', tileUrl]);
    expect(refused.stdout).toBe('401');
  });

  it('status: signed in, the profile, issuer and expiry — never a token; exit 0', async () => {
    const result = await cli(['status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('signed in: true');
    expect(result.stdout).toContain(`issuer: ${provider.issuer}`);
    expect(result.stdout).toMatch(/expires at: \d{4}-/);
    const json = JSON.parse((await cli(['status', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ profile: 'default', signed_in: true, issuer: provider.issuer, client_id: clientId });
    for (const token of printed) expect(result.stdout + JSON.stringify(json)).not.toContain(token);
  });

  it('logout reaches a running batch of processes: they stop getting tokens; the refresh token is revoked and deleted', async () => {
    const outputs = Array.from({ length: 3 }, () => [] as Array<{ at: number; ok?: boolean; code?: string; prompt?: boolean }>);
    batch = outputs.map((lines) => {
      const child = spawn(process.execPath, [path.join(root, 'test/local/fixtures/device-batch-task.mjs')], {
        env: { ...process.env, ...clean(env), ISSUER: provider.issuer, CLIENT_ID: clientId, SCOPE: 'openid offline_access' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const complete = buffer.split('\n');
        buffer = complete.pop()!;
        for (const line of complete) lines.push(JSON.parse(line) as (typeof lines)[number]);
      });
      return child;
    });
    await until(() => outputs.every((lines) => lines.some((line) => line.ok === true)), 15_000, 'every process of the batch got a token');
    const revocations = provider.counts.revocations;
    const result = await cli(['logout']);
    const loggedOut = Date.now();
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toContain('Signed out (profile default).');
    await until(() => outputs.every((lines) => lines.filter((line) => line.ok === false).length >= 2), 10_000, 'every process failed twice after the logout');
    for (const lines of outputs) {
      expect(lines.filter((line) => line.ok === true && line.at > loggedOut)).toEqual([]);
      expect(lines.filter((line) => line.ok === false).map((line) => line.code)).toContain('login_required');
      // Nobody prompts: a process of the batch never starts a sign-in of its own.
      expect(lines.some((line) => line.prompt === true)).toBe(false);
    }
    expect(provider.counts.revocations).toBe(revocations + 1);
    expect(readdirSync(configDir()).filter((file) => file.startsWith('device-'))).toEqual([]);
  });

  it('after logout: token exits 3 with a message on stderr and nothing on stdout; status exits 3', async () => {
    const token = await cli(['token']);
    expect(token).toMatchObject({ code: 3, stdout: '' });
    expect(token.stderr).toMatch(/^shared-session: .*not signed in|^shared-session: .*sign-in/im);
    const status = await cli(['status']);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain('signed in: false');
  });
});

describe('shared-session, signed in with the browser (RFC 8252 loopback redirect)', () => {
  it('login --browser prints the authorization URL on stderr; the browser signs in; token works; logout', async () => {
    const run = startCli(['login', '--browser', '--profile', 'web', '--issuer', provider.issuer, '--client-id', clientId], { ...env, BROWSER: 'none' });
    const [, url] = await run.waitForStderr(/browser to sign in to \S+:\n\n {2}(\S+)\n/);
    const authorization = new URL(url!);
    expect(new URL(authorization.searchParams.get('redirect_uri')!).hostname).toBe('127.0.0.1');
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    const visit = await signInAsBrowser(url!);
    expect(visit.status).toBe(200);
    expect(await run.exit).toBe(0);
    stderrs.push(run.stderr());
    expect(run.stdout()).toBe('');
    const token = await cli(['token', '--profile', 'web']);
    expect(token.code).toBe(0);
    printed.add(token.stdout.trim());
    expect(await provider.introspect(token.stdout.trim())).toMatchObject({ active: true });
    expect(await cli(['logout', '--profile', 'web'])).toMatchObject({ code: 0 });
    expect(await cli(['token', '--profile', 'web'])).toMatchObject({ code: 3, stdout: '' });
  });

  it('a refused browser sign-in exits 4 (denied)', async () => {
    const run = startCli(['login', '--browser', '--profile', 'web', '--issuer', provider.issuer, '--client-id', clientId], { ...env, BROWSER: 'none' });
    const [, url] = await run.waitForStderr(/browser to sign in to \S+:\n\n {2}(\S+)\n/);
    await signInAsBrowser(url!, { deny: true });
    expect(await run.exit).toBe(4);
    stderrs.push(run.stderr());
    expect(run.stderr()).toMatch(/shared-session: .*access_denied/);
  });
});

describe('shared-session with an openEO back-end (--openeo): its OIDC provider and default client discovered', () => {
  let backEnd: Server;
  let url: string;
  beforeAll(async () => {
    // /credentials/oidc as openEO API 1.2 specifies it, naming the test provider and a device-flow default client.
    backEnd = createServer((req, res) => {
      if (req.url !== '/openeo/1.2/credentials/oidc') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          providers: [
            { id: 'other', issuer: 'https://other.example', title: 'Other', scopes: ['openid'] },
            {
              id: 'egi',
              issuer: `${provider.issuer}/`,
              title: 'Test provider',
              scopes: ['openid', 'email'],
              default_clients: [
                { id: 'browser-only', grant_types: ['authorization_code+pkce'], redirect_urls: ['http://localhost:8080/callback'] },
                { id: clientId, grant_types: ['urn:ietf:params:oauth:grant-type:device_code+pkce', 'refresh_token'] },
              ],
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => backEnd.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(backEnd.address() as AddressInfo).port}/openeo/1.2/`;
  });
  afterAll(async () => {
    backEnd.closeAllConnections();
    await new Promise((resolve) => backEnd.close(resolve));
  });

  it('login --openeo <url> --provider-id egi signs in with the listed device client; status names the back-end', async () => {
    const result = await deviceLogin(['--profile', 'eo', '--openeo', url, '--provider-id', 'egi']);
    expect(result.code).toBe(0);
    const status = JSON.parse((await cli(['status', '--json', '--profile', 'eo'])).stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ signed_in: true, issuer: provider.issuer, client_id: clientId, openeo: url.replace(/\/$/, ''), openeo_provider: 'egi' });
    expect(String(status.scope).split(' ').sort()).toEqual(['email', 'offline_access', 'openid']);
    expect(await cli(['logout', '--profile', 'eo'])).toMatchObject({ code: 0 });
  });

  it('a provider the back-end does not list, or one without a default client for the flow, is a usage error (2)', async () => {
    const unknown = await cli(['login', '--device', '--profile', 'eo2', '--openeo', url, '--provider-id', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no OIDC provider "nope" (providers: other, egi)');
    const noClient = await cli(['login', '--device', '--profile', 'eo2', '--openeo', url]);
    expect(noClient.code).toBe(2);
    expect(noClient.stderr).toContain('lists no default client for the device flow of provider other');
  });
});

describe('shared-session: exit codes and messages for every failure', () => {
  it('usage: no command, an unknown command or option, a missing value, both flows, a bad URL → 2', async () => {
    for (const args of [[], ['frobnicate'], ['token', '--frob'], ['login', '--issuer'], ['login', '--browser', '--device'], ['login', '--issuer', 'not a url', '--client-id', 'x'], ['login', '--issuer', 'http://example.com', '--client-id', 'x'], ['token', 'extra'], ['status', '--profile', '../etc']]) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr.trim().length, args.join(' ')).toBeGreaterThan(0);
    }
  });

  it('not signed in: token and status of a profile never used → 3', async () => {
    const result = await cli(['token', '--profile', 'nobody']);
    expect(result).toMatchObject({ code: 3, stdout: '' });
    expect(result.stderr).toContain('not signed in: no profile nobody (run: shared-session login --profile nobody)');
  });

  it('denied: the person aborts the device code → 4', async () => {
    const result = await deviceLogin(['--profile', 'denied', '--issuer', provider.issuer, '--client-id', clientId, '--scope', 'openid offline_access profile'], { deny: true });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/shared-session: .*access_denied/);
    expect(result.stdout).toBe('');
  });

  it('expired: the sign-in not completed within --timeout → 5', async () => {
    const result = await cli(['login', '--device', '--profile', 'slow', '--issuer', provider.issuer, '--client-id', clientId, '--scope', 'openid offline_access api', '--timeout', '1']);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain('shared-session: the sign-in was not completed within 1 s');
  });

  it('interrupted: Ctrl-C while the device sign-in waits → 130, at once', async () => {
    // Baseline on this machine now: a whole run of the command line that does nothing (start, load, exit).
    const began = Date.now();
    await cli(['help']);
    const baseline = Date.now() - began;
    const run = startCli(['login', '--device', '--profile', 'interrupted', '--issuer', provider.issuer, '--client-id', clientId, '--scope', 'openid offline_access email'], env);
    await run.waitForStderr(/and enter the code/);
    const sent = Date.now();
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(130);
    stderrs.push(run.stderr());
    expect(run.stderr()).toContain('shared-session: interrupted');
    // Bounded by the abort, not by the device code's life (600 s) or the next poll (5 s): a full run's time at most.
    expect(Date.now() - sent).toBeLessThan(Math.max(baseline, 1_000) + 2_000);
  });

  it('network: an issuer nobody answers at → 6', async () => {
    const result = await cli(['login', '--device', '--profile', 'offline', '--issuer', 'http://127.0.0.1:9', '--client-id', clientId]);
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/shared-session: .*could not be reached/);
  });

  it('storage: a profile file others can read is refused → 7', async () => {
    const file = path.join(configDir(), 'profiles.json');
    expect(existsSync(file)).toBe(true);
    chmodSync(file, 0o644);
    try {
      const result = await cli(['status']);
      expect(result.code).toBe(7);
      expect(result.stderr).toContain('can be read or changed by others (mode 644): refused; chmod 600 it');
    } finally {
      chmodSync(file, 0o600);
    }
  });
});

function clean(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

async function until(test: () => boolean, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
