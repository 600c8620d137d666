import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { earthEngine, googleServiceAccount, type EarthEngineExpression } from '../../src/earth-engine.js';
import { createSession, isSessionError, memorySharing, type Session, type SessionError } from '../../src/index.js';
import { startEarthEngineServer, type EarthEngineServer } from '../support/geo-servers.js';
import { startGoogleTokenServer, type GoogleTokenServer, type ServiceAccount } from '../support/google-token-server.js';
import { failure } from '../support/failure.js';

const SCOPES = ['https://www.googleapis.com/auth/earthengine'];
let google: GoogleTokenServer;
let ee: EarthEngineServer;
let account: ServiceAccount;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  google = await startGoogleTokenServer();
  ee = await startEarthEngineServer((token) => google.isValid(token));
  account = await google.addAccount();
});
afterAll(async () => {
  await Promise.all([google.close(), ee.close()]);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
  google.reset();
  ee.reset();
  vi.restoreAllMocks();
});

function session(key: unknown = account.keyFile, extra: Partial<Parameters<typeof googleServiceAccount>[0]> = {}): Session {
  const created = createSession({
    provider: googleServiceAccount({ key: key as ServiceAccount['keyFile'], scopes: SCOPES, ...extra }),
    sharing: memorySharing(),
  });
  open.push(created);
  return created;
}


function thrown(make: () => unknown): SessionError {
  try {
    make();
  } catch (error) {
    expect(isSessionError(error), String(error)).toBe(true);
    return error as SessionError;
  }
  return expect.fail('expected a SessionError');
}

/** Every way the private key could show up in text: the PEM's start, or any 40-character run of its base64 body. */
function leaks(text: string, pem = account.privatePem): string[] {
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const found: string[] = [];
  for (let index = 0; index + 40 <= body.length; index += 20) {
    if (text.includes(body.slice(index, index + 40))) found.push(body.slice(index, index + 40));
  }
  if (text.includes(pem.slice(0, 40))) found.push(pem.slice(0, 40));
  return found;
}

const onePlusTwo: EarthEngineExpression = {
  result: '0',
  values: { '0': { functionInvocationValue: { functionName: 'Number.add', arguments: { left: { constantValue: 1 }, right: { constantValue: 2 } } } } },
};

describe('googleServiceAccount (JWT bearer grant, RFC 7523 §2.1) against a stand-in that verifies with jose', () => {
  it('300 concurrent getToken → 1 assertion → 1 token; the assertion is what Google expects', async () => {
    google.latency = 50;
    const one = session();
    const tokens = await Promise.all(Array.from({ length: 300 }, () => one.getToken()));
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
    expect(google.stats).toMatchObject({ requests: 1, assertions: 1, tokens: 1, refused: [] });
    expect(google.isValid(tokens[0]!.accessToken)).toBe(true);
    const [{ header, claims }] = google.verified as [(typeof google.verified)[0]];
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: account.keyId });
    expect(claims).toMatchObject({ iss: account.email, aud: account.keyFile.token_uri, scope: SCOPES[0] });
    expect(claims).not.toHaveProperty('sub');
    const { iat, exp, jti } = claims as { iat: number; exp: number; jti: string };
    expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(5);
    expect(exp - iat).toBe(300);
    expect(jti).toMatch(/^[\w-]{22}$/);
    // Google's lifetime: 3599 s from when the request was sent.
    expect(tokens[0]!.expiresAt - tokens[0]!.issuedAt).toBe(3599_000);
  });

  it('every request and every retry carries a new assertion (a new jti); subject, scopes and lifetime are honoured', async () => {
    const one = session(account.keyFile, { subject: 'alice@example.com', assertionLifetime: 3600, backoff: 1 });
    google.failNext(2, 503);
    await one.getToken();
    await one.getToken({ forceRefresh: true });
    expect(google.stats).toMatchObject({ requests: 4, assertions: 2 });
    // The two 503s were answered before verification; the two verified assertions are distinct.
    const jtis = google.verified.map(({ claims }) => claims.jti);
    expect(new Set(jtis).size).toBe(2);
    expect(google.verified[0]!.claims).toMatchObject({ sub: 'alice@example.com' });
    expect((google.verified[0]!.claims.exp as number) - (google.verified[0]!.claims.iat as number)).toBe(3600);
  });

  it('the key file may be passed as its JSON text (a Worker secret), with literal \\n in the PEM too', async () => {
    const text = JSON.stringify({ ...account.keyFile, private_key: account.privatePem.replace(/\n/g, '\\n') });
    const token = await session(text).getToken();
    expect(google.isValid(token.accessToken)).toBe(true);
  });

  it('Earth Engine getInfo works with it: 20 concurrent computations, one token request', async () => {
    const client = earthEngine({
      provider: googleServiceAccount({ key: account.keyFile, scopes: SCOPES }),
      project: 'my-project',
      baseUrl: ee.baseUrl,
      sharing: memorySharing(),
    });
    open.push(client);
    const results = await Promise.all(Array.from({ length: 20 }, () => client.operations.getInfo<number>(onePlusTwo)));
    expect(results).toEqual(Array.from({ length: 20 }, () => 3));
    expect(google.stats.tokens).toBe(1);
    expect(ee.calls.every((call) => google.isValid(call.token) && call.userProject === 'my-project')).toBe(true);
  });

  it('a key Google does not know for the account → invalid_grant with Google\'s description, not retried', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const wrong = { ...account.keyFile, private_key: await exportPKCS8(privateKey) };
    const error = await failure(session(wrong).getToken());
    expect(error).toMatchObject({ code: 'invalid_grant', status: 400, oauthError: 'invalid_grant', oauthErrorDescription: 'Invalid JWT Signature.' });
    expect(google.stats.requests).toBe(1);
    // A wrong key never joins the session of the right one: the credential key tells them apart.
    const right = googleServiceAccount({ key: account.keyFile, scopes: SCOPES });
    const other = googleServiceAccount({ key: wrong, scopes: SCOPES });
    expect(right.key).not.toBe(other.key);
    expect(right.key).toBe(googleServiceAccount({ key: { ...account.keyFile }, scopes: SCOPES }).key);
  });

  it('a malformed key file → invalid_credentials naming the field, never its value', () => {
    const secretish = 'do-not-print-this-value-0123456789';
    const cases: Array<[unknown, string]> = [
      [{ ...account.keyFile, type: 'authorized_user' }, 'key.type'],
      [{ ...account.keyFile, client_email: undefined }, 'key.client_email'],
      [{ ...account.keyFile, client_email: secretish }, 'key.client_email'],
      [{ ...account.keyFile, private_key: undefined }, 'key.private_key'],
      [{ ...account.keyFile, private_key: secretish }, 'key.private_key'],
      [{ ...account.keyFile, private_key: `-----BEGIN PRIVATE KEY-----\n${secretish}\n-----END PRIVATE KEY-----` }, 'key.private_key'],
      [{ ...account.keyFile, private_key: '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----' }, 'key.private_key'],
      [{ ...account.keyFile, token_uri: secretish }, 'key.token_uri'],
      [{ ...account.keyFile, private_key_id: 42 }, 'key.private_key_id'],
      ['{not json', 'key'],
      [null, 'key'],
    ];
    for (const [key, field] of cases) {
      const error = thrown(() => googleServiceAccount({ key: key as ServiceAccount['keyFile'], scopes: SCOPES }));
      expect(error.code, field).toBe('invalid_credentials');
      expect(error.message, field).toContain(field);
      expect(JSON.stringify({ ...error, message: error.message, cause: String(error.cause) })).not.toContain(secretish);
      expect(leaks(`${error.message} ${String(error.cause)}`)).toEqual([]);
    }
    expect(thrown(() => googleServiceAccount({ key: account.keyFile, scopes: [] })).code).toBe('invalid_options');
  });

  it('the private key never appears in the credential key, the token, events, errors or logs', async () => {
    const logged: string[] = [];
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    }
    const seen: string[] = [];
    const provider = googleServiceAccount({ key: account.keyFile, scopes: SCOPES, attempts: 2, backoff: 1 });
    const one = createSession({ provider, sharing: memorySharing() });
    open.push(one);
    for (const event of ['authenticated', 'token', 'cleared', 'error', 'leader'] as const) {
      one.on(event, (...args: unknown[]) => void seen.push(JSON.stringify(args, (_, value: unknown) => (value instanceof Error ? { ...value, message: value.message, stack: value.stack } : value))));
    }
    const token = await one.getToken();
    google.failNext(2, 500);
    const error = await failure(one.getToken({ forceRefresh: true }));
    expect(error.code).toBe('endpoint_unavailable');
    await one.clear();
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const wrong = await failure(session({ ...account.keyFile, private_key: await exportPKCS8(privateKey) }).getToken());
    const text = [provider.key, JSON.stringify(token), ...seen, ...logged, JSON.stringify({ ...error }), error.message, error.stack, String(error.cause), JSON.stringify({ ...wrong }), wrong.message, wrong.stack].join('\n');
    expect(seen.length).toBeGreaterThan(2);
    expect(leaks(text)).toEqual([]);
  });

  it('a CryptoKey (non-extractable) works too, and is identified by its kid', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: false });
    const { jwtBearerGrant } = await import('../../src/jwt.js');
    expect(thrown(() => jwtBearerGrant({ tokenUrl: google.tokenUrl, issuer: account.email, privateKey })).message).toContain('kid');
    const provider = jwtBearerGrant({ tokenUrl: google.tokenUrl, issuer: account.email, privateKey, kid: 'k1', claims: { scope: SCOPES[0]! } });
    // Another key, so Google refuses it: the JWT is still built and signed by Web Crypto from a CryptoKey.
    const one = createSession({ provider, sharing: memorySharing() });
    open.push(one);
    expect((await failure(one.getToken())).oauthErrorDescription).toBe('Invalid JWT: No valid verifier found for issuer.');
  });
});
