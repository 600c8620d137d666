import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import type { Miniflare } from 'miniflare';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEarthEngineServer, type EarthEngineServer } from '../support/geo-servers.js';
import { startGoogleTokenServer, type GoogleTokenServer, type ServiceAccount } from '../support/google-token-server.js';
import { buildExample, startWorkers } from '../support/workerd.js';

/*
 * examples/cloudflare-earth-engine, built by wrangler and run in real workerd (Miniflare): four isolates with one
 * Durable Object coordinator, a Google service account key as a secret, the Google token stand-in (which verifies each
 * assertion with jose) and the Earth Engine stand-in.
 */

let google: GoogleTokenServer;
let ee: EarthEngineServer;
let account: ServiceAccount;
let example: string;
const running: Miniflare[] = [];

beforeAll(async () => {
  google = await startGoogleTokenServer();
  ee = await startEarthEngineServer((token) => google.isValid(token));
  [account, example] = await Promise.all([google.addAccount('ee-worker'), buildExample('cloudflare-earth-engine')]);
}, 120_000);
afterAll(async () => {
  await Promise.all([google.close(), ee.close()]);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((mf) => mf.dispose()));
  google.reset();
  ee.reset();
});

function bindings(key: unknown = account.keyFile): Record<string, string> {
  return { EE_PROJECT: 'my-project', EE_API: ee.baseUrl, EE_SERVICE_ACCOUNT_KEY: typeof key === 'string' ? key : JSON.stringify(key) };
}

async function start(options: Parameters<typeof startWorkers>[0]): Promise<{ mf: Miniflare; names: string[] }> {
  const started = await startWorkers(options);
  running.push(started.mf);
  return started;
}

const onePlusTwo = JSON.stringify({
  result: '0',
  values: { '0': { functionInvocationValue: { functionName: 'Number.add', arguments: { left: { constantValue: 1 }, right: { constantValue: 2 } } } } },
});

/** `count` requests at once, round-robin over the isolates. */
async function burst(mf: Miniflare, names: string[], count: number, init: { path: string; method?: string; body?: string }) {
  const workers = await Promise.all(names.map((name) => mf.getWorker(name)));
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const response = await workers[index % workers.length]!.fetch(`http://worker${init.path}`, {
        method: init.method ?? 'GET',
        ...(init.body === undefined ? {} : { body: init.body }),
      });
      return { status: response.status, body: await response.text() };
    }),
  );
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [file];
  });
}

describe('googleServiceAccount in workerd (examples/cloudflare-earth-engine)', () => {
  it('300 concurrent getInfo over 4 isolates → 1 assertion → 1 token; the key never reaches Durable Object storage', async () => {
    google.latency = 100; // every isolate asks while the one token request is in flight
    const persist = mkdtempSync(path.join(tmpdir(), 'shared-session-ee-do-'));
    try {
      const { mf, names } = await start({ script: example, instances: 4, bindings: bindings(), persist });
      const responses = await burst(mf, names, 300, { path: '/value', method: 'POST', body: onePlusTwo });
      expect(responses.filter((response) => response.status !== 200)).toEqual([]);
      expect(new Set(responses.map((response) => response.body))).toEqual(new Set(['{"value":3}']));
      expect(google.stats).toMatchObject({ requests: 1, assertions: 1, tokens: 1, refused: [] });
      const { claims, header } = google.verified[0]!;
      expect(header).toMatchObject({ alg: 'RS256', kid: account.keyId });
      expect(claims).toMatchObject({ iss: account.email, aud: account.keyFile.token_uri, scope: 'https://www.googleapis.com/auth/earthengine' });
      const computes = ee.calls.filter((call) => call.path === '/v1/projects/my-project/value:compute');
      expect(computes).toHaveLength(300);
      expect(new Set(computes.map((call) => call.token)).size).toBe(1);

      // A map and one of its tiles, through the Worker.
      const [map] = await burst(mf, names.slice(0, 1), 1, {
        path: '/map',
        method: 'POST',
        body: JSON.stringify({ image: JSON.parse(onePlusTwo) as object, visParams: { min: 0, max: 3000 } }),
      });
      const { name } = JSON.parse(map!.body) as { name: string };
      const [tile] = await burst(mf, names.slice(1, 2), 1, { path: `/tiles/${name}/3/4/2` });
      expect(tile!.status).toBe(200);
      expect(google.stats.tokens).toBe(1);

      await mf.dispose();
      running.splice(running.indexOf(mf), 1);
      const stored = filesUnder(persist).map((file) => readFileSync(file));
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.some((bytes) => bytes.includes(computes[0]!.token))).toBe(true); // the token is there…
      const body = account.privatePem.replace(/-----[A-Z ]+-----|\s/g, '');
      for (let index = 0; index + 40 <= body.length; index += 40) {
        // …the private key never is, nor any part of it, nor the key file
        expect(stored.some((bytes) => bytes.includes(body.slice(index, index + 40)))).toBe(false);
      }
      expect(stored.some((bytes) => bytes.includes('PRIVATE KEY'))).toBe(false);
    } finally {
      rmSync(persist, { recursive: true, force: true });
    }
  });

  it('a key Google refuses → invalid_grant for every caller, one request; a malformed key file → invalid_credentials', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const wrong = { ...account.keyFile, private_key: await exportPKCS8(privateKey) };
    const refused = await start({ script: example, instances: 2, bindings: bindings(wrong) });
    const answers = await burst(refused.mf, refused.names, 20, { path: '/value', method: 'POST', body: onePlusTwo });
    expect(new Set(answers.map((answer) => `${answer.status} ${answer.body}`))).toEqual(new Set(['502 {"error":"invalid_grant","status":"invalid_grant"}']));
    expect(google.stats.requests).toBe(1);
    expect(google.stats.refused).toEqual(['Invalid JWT Signature.']);

    const malformed = await start({ script: example, instances: 1, bindings: bindings({ ...account.keyFile, client_email: undefined }) });
    const [answer] = await burst(malformed.mf, malformed.names, 1, { path: '/value', method: 'POST', body: onePlusTwo });
    expect(answer).toEqual({ status: 500, body: '{"error":"invalid_credentials"}' });
  });
});
