import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCli } from '../support/cli-process.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';

// Review (issue 26): `--store keychain` reaches the Secret Service over D-Bus with a synchronous native call. A bus
// that accepts the connection and never answers (a keychain waiting on an unlock prompt nobody sees, a wedged
// dbus-daemon) blocked the process: `login` never ended, and Ctrl-C did nothing (its handler never ran). Every wait
// is bounded, and Ctrl-C is 130.

let provider: OpenIdProvider;
let bus: Server;
const sockets = new Set<Socket>();
let home: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  provider = await startOpenIdProvider({ clients: [{ clientId: 'cli', redirectUris: ['http://127.0.0.1/callback'], applicationType: 'native' }], deviceFlow: true });
  home = mkdtempSync(path.join(tmpdir(), 'review-kc-hang-'));
  mkdirSync(path.join(home, 'run'), { mode: 0o700 });
  const socket = path.join(home, 'bus.sock');
  // A "session bus" that takes the connection and never says a word.
  bus = createServer((connection) => {
    sockets.add(connection);
    connection.on('data', () => undefined);
    connection.on('close', () => sockets.delete(connection));
  });
  await new Promise<void>((resolve) => bus.listen(socket, resolve));
  env = {
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${socket}`,
    DISPLAY: '',
    WAYLAND_DISPLAY: '',
    BROWSER: undefined,
    SHARED_SESSION_PROFILE: undefined,
  };
});

afterAll(async () => {
  for (const connection of sockets) connection.destroy();
  await new Promise((resolve) => bus.close(resolve));
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});

it('login --store keychain with a D-Bus that never answers: a typed failure within the keychain wait, not a hang', async () => {
  const run = startCli(['login', '--device', '--store', 'keychain', '--issuer', provider.issuer, '--client-id', 'cli'], env, 40_000);
  const code = await run.exit;
  expect(code, run.stderr()).not.toBe(0);
  expect(run.stderr()).toMatch(/keychain did not answer/);
}, 45_000);

it('Ctrl-C while the keychain does not answer: 130, at once', async () => {
  const run = startCli(['login', '--device', '--store', 'keychain', '--issuer', provider.issuer, '--client-id', 'cli'], env, 40_000);
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  const sent = Date.now();
  run.child.kill('SIGINT');
  expect(await run.exit).toBe(130);
  expect(Date.now() - sent).toBeLessThan(5_000);
}, 45_000);
