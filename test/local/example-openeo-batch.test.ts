import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import { startOpenEOServer, type OpenEOServer } from '../support/openeo-server.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// examples/openeo-batch/download.ts as the README shows it (tsx, the built package through its `exports`), against the
// stand-in openEO back-end and a real oidc-provider with the device flow (PKCE required, as EGI requires it): 4
// processes download a job's 8 assets with 1 prompt, 1 device grant and 1 token request; the next run prompts 0 times.

const root = path.resolve(import.meta.dirname, '../..');
let provider: OpenIdProvider;
let backend: OpenEOServer;
let dir: string;

beforeAll(async () => {
  // Tokens live an hour, as CDSE's do: a refresh within the run would be the token's life, not the sharing.
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId: 'openeo-batch', redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1, devicePkce: true, accessTokenTtl: 3600 });
  const live = async (token: string): Promise<boolean> => (await provider.introspect(token)).active;
  backend = await startOpenEOServer(() => [
    {
      id: 'egi',
      issuer: provider.issuer,
      title: 'EGI Check-in (test provider)',
      isValid: live,
      defaultClients: [{ id: 'openeo-batch', grant_types: ['urn:ietf:params:oauth:grant-type:device_code+pkce', 'refresh_token'] }],
    },
  ]);
  dir = mkdtempSync(path.join(tmpdir(), 'ss-openeo-batch-'));
});
afterAll(async () => {
  await Promise.all([provider.close(), backend.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the example to its end; the person approves every prompt it prints. Returns the prompts and the exit code. */
async function runExample(job: string, out: string): Promise<{ prompts: number; code: number | null; stderr: string }> {
  const child = spawn(path.join(root, 'node_modules/.bin/tsx'), ['examples/openeo-batch/download.ts'], {
    cwd: root,
    // Rendezvous and config directories of this test's own: no other test's processes or stored sign-ins meet these.
    env: { ...process.env, OPENEO_URL: backend.url, JOB_ID: job, OUT: out, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: path.join(dir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let prompts = 0;
  const approvals: Promise<unknown>[] = [];
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    const found = [...stderr.matchAll(/To sign in, open (\S+) and confirm the code (\S+)\n/g)];
    for (const match of found.slice(prompts)) {
      prompts++;
      const page = new URL(match[1]!);
      page.search = ''; // the verification URI itself: the person types the code
      approvals.push(approveDeviceSignIn(page.href, match[2]!, { login: 'alice' }));
    }
  });
  child.stdout.resume();
  // 4 processes that each start tsx: seconds on an idle machine, minutes on a loaded one; time is not the promise here.
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  await Promise.all(approvals);
  return { prompts, code, stderr };
}

it('examples/openeo-batch: 4 processes download the 8 assets of a job with 1 prompt, 1 device grant and 1 token request; the next run 0 prompts', async () => {
  const job = backend.finishedJob(8);
  const first = await runExample(job, path.join(dir, 'out-1'));
  expect(first, first.stderr).toMatchObject({ code: 0, prompts: 1 });
  expect(readdirSync(path.join(dir, 'out-1')).sort()).toEqual(Array.from({ length: 8 }, (_, index) => `openEO_${index}.tif`).sort());
  expect(backend.stats.assetDownloads).toBe(8);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, refreshRequests: 0, reusedRefreshTokens: 0 });
  const bearers = new Set(backend.authorizations.filter((entry) => entry.path.startsWith('/jobs/')).map((entry) => entry.authorization));
  expect(bearers.size).toBe(1);
  expect([...bearers][0]).toMatch(/^Bearer oidc\/egi\/\S+$/);

  // The next run of the job: the stored refresh token, no prompt, one refresh for its 4 processes.
  const second = await runExample(job, path.join(dir, 'out-2'));
  expect(second, second.stderr).toMatchObject({ code: 0, prompts: 0 });
  expect(readdirSync(path.join(dir, 'out-2'))).toHaveLength(8);
  expect(provider.counts, `${JSON.stringify(provider.log)}\n${second.stderr}`).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, refreshRequests: 1, reusedRefreshTokens: 0 });
}, 300_000);
