import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, startCli } from '../support/cli-process.js';
import { approveDeviceSignIn } from '../support/device-person.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';

// Review (issue 26): Ctrl-C in `shared-session token` while its refresh is at the provider. The provider rotated the
// refresh token; if the command exits before the answer is read and stored, the store keeps the spent token and the
// next run sends it again — oidc-provider's reuse detection then revokes the whole grant. A refresh token is never
// sent twice: Ctrl-C must not turn into a lost rotation.

const clientId = 'cli';
let provider: OpenIdProvider;
let home: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/callback'], applicationType: 'native' }], deviceFlow: true });
  home = mkdtempSync(path.join(tmpdir(), 'review-cli-int-'));
  mkdirSync(path.join(home, 'run'), { mode: 0o700 });
  env = { XDG_CONFIG_HOME: path.join(home, 'config'), XDG_RUNTIME_DIR: path.join(home, 'run'), DISPLAY: '', WAYLAND_DISPLAY: '', BROWSER: undefined, SHARED_SESSION_PROFILE: undefined };
});

afterAll(async () => {
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});

it('Ctrl-C while the refresh is at the provider: the next run does not send the spent refresh token', async () => {
  provider.accessTokenTtl = 2;
  const login = startCli(['login', '--device', '--issuer', provider.issuer, '--client-id', clientId], env);
  const [, where, userCode] = await login.waitForStderr(/open\n\n {2}(\S+)\n\nand enter the code (\S+)\./);
  await approveDeviceSignIn(where!, userCode!, { login: 'alice' });
  expect(await login.exit).toBe(0);
  // The access token expires: the next `token` refreshes.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  provider.responseLatency = 3_000;
  const before = provider.counts.refreshRequests;
  const interrupted = startCli(['token'], env);
  const deadline = Date.now() + 10_000;
  while (provider.counts.refreshRequests === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(provider.counts.refreshRequests).toBe(before + 1);
  interrupted.child.kill('SIGINT');
  const code = await interrupted.exit;
  expect([0, 130]).toContain(code);
  provider.responseLatency = 0;
  const next = await runCli(['token'], env);
  expect({ reused: provider.counts.reusedRefreshTokens, revoked: provider.counts.revokedGrants }).toEqual({ reused: 0, revoked: 0 });
  expect(next.code).toBe(0);
}, 40_000);
