import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { startEarthEngineServer, type EarthEngineServer } from '../support/geo-servers.js';
import { startGoogleTokenServer, type GoogleTokenServer, type ServiceAccount } from '../support/google-token-server.js';

/**
 * googleServiceAccount in real Deno (the `deno` npm package's binary), running the packed package from an app's
 * node_modules (set up by test/support/deno-app.ts), against the Google token stand-in (it verifies every assertion with
 * jose) and the Earth Engine one. Fixture: test/deno/service-account/.
 */

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const deno = DENO;
let app = '';

let google: GoogleTokenServer;
let ee: EarthEngineServer;
let account: ServiceAccount;

beforeAll(async () => {
  google = await startGoogleTokenServer();
  ee = await startEarthEngineServer((token) => google.isValid(token));
  account = await google.addAccount('ee-deno');
  app = await denoApp('deno-service-account-app', path.join(import.meta.dirname, 'service-account'));
}, 120_000);

afterAll(async () => {
  await Promise.all([google?.close(), ee?.close()]);
});

it('Deno: 300 concurrent getToken → 1 assertion → 1 token; getInfo with it; wrong key → invalid_grant; bad key file → invalid_credentials', async () => {
  await run(deno, ['check', '--cached-only', 'service_account.ts'], { cwd: app, timeout: 60_000 });
  google.latency = 50;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const wrongKeyFile = { ...account.keyFile, private_key: await exportPKCS8(privateKey) };
  const config = { keyFile: account.keyFile, wrongKeyFile, eeBaseUrl: ee.baseUrl };
  const child = await run(
    deno,
    // Only the network of the stand-ins and reading the app: Web Crypto needs no permission.
    ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'service_account.ts', JSON.stringify(config)],
    { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno run service_account.ts failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });
  const line = child.stdout.split('\n').find((each) => each.startsWith('RESULT '));
  expect(line, child.stderr).toBeDefined();
  const result = JSON.parse(line!.slice('RESULT '.length)) as {
    tokens: string[];
    authenticated: number;
    values: number[];
    refused?: { code: string; description?: string };
    malformed?: { code: string; message: string };
  };
  expect(result.tokens).toHaveLength(1);
  expect(result.authenticated).toBe(1);
  expect(result.values).toEqual(Array.from({ length: 10 }, () => 3));
  expect(result.refused).toMatchObject({ code: 'invalid_grant', description: 'Invalid JWT Signature.' });
  expect(result.malformed).toMatchObject({ code: 'invalid_credentials' });
  expect(result.malformed?.message).toContain('key.private_key');
  // One verified assertion for the 300 calls and the Earth Engine calls; one refused for the wrong key.
  expect(google.stats).toMatchObject({ requests: 2, assertions: 1, tokens: 1, refused: ['Invalid JWT Signature.'] });
  expect(google.verified[0]!.claims).toMatchObject({ iss: account.email, aud: account.keyFile.token_uri });
  expect(ee.calls.every((call) => call.token === result.tokens[0])).toBe(true);
  // Nothing Deno printed holds any part of the private key.
  const printed = `${child.stdout}\n${child.stderr}`;
  const body = account.privatePem.replace(/-----[A-Z ]+-----|\s/g, '');
  for (let index = 0; index + 40 <= body.length; index += 40) expect(printed).not.toContain(body.slice(index, index + 40));
});
