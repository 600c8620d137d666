import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, type Session } from '../../src/index.js';
import { jwtClientCredentials, type JwtAlgorithm } from '../../src/jwt.js';
import { failure } from '../support/failure.js';

/*
 * `private_key_jwt` (RFC 7523 §2.2) against oidc-provider, panva's certified OpenID provider, with one client per
 * algorithm registered with `token_endpoint_auth_method: 'private_key_jwt'` and its public JWKS. oidc-provider checks
 * the assertion itself: signature, `iss` = `sub` = client id, `aud`, `exp`, and that a `jti` is never used twice.
 */

interface Client {
  readonly clientId: string;
  readonly kid: string;
  readonly pem: string;
  readonly cryptoKey: CryptoKey;
}

let server: Server;
let issuer: string;
const clients: Partial<Record<JwtAlgorithm, Client>> = {};
const requests: URLSearchParams[] = [];
const open: Session[] = [];

beforeAll(async () => {
  const registered: Array<Record<string, unknown>> = [];
  for (const alg of ['RS256', 'ES256', 'PS256'] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-key`;
    const clientId = `edge-app-${alg.toLowerCase()}`;
    const pem = await exportPKCS8(privateKey);
    // The same key as a non-extractable CryptoKey, as an app that never holds the PEM would have it.
    const cryptoKey = await crypto.subtle.importKey(
      'pkcs8',
      Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'),
      alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: alg === 'PS256' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    clients[alg] = { clientId, kid, pem, cryptoKey };
    registered.push({
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: alg,
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }] },
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'openid tiles:read',
    });
  }
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: registered,
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    scopes: ['openid', 'tiles:read'],
    ttl: { ClientCredentials: 600 },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    // Keep a copy of each token request's form, to look at what was sent.
    if (req.url === '/token') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => requests.push(new URLSearchParams(Buffer.concat(chunks).toString())));
    }
    callback(req, res);
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
  requests.length = 0;
});

function session(options: Omit<Parameters<typeof jwtClientCredentials>[0], 'tokenUrl'>): Session {
  const created = createSession({ provider: jwtClientCredentials({ tokenUrl: `${issuer}/token`, ...options }), sharing: memorySharing() });
  open.push(created);
  return created;
}


function claimsOf(assertion: string | null): Record<string, unknown> {
  return JSON.parse(Buffer.from((assertion ?? '').split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}

describe('jwtClientCredentials (private_key_jwt) against oidc-provider', () => {
  for (const alg of ['RS256', 'ES256', 'PS256'] as const) {
    it(`${alg} from a PKCS#8 PEM: client credentials succeed, 50 concurrent calls → 1 request`, async () => {
      const { clientId, kid, pem } = clients[alg]!;
      const one = session({ clientId, privateKey: pem, kid, alg, scope: 'tiles:read' });
      const tokens = await Promise.all(Array.from({ length: 50 }, () => one.getToken()));
      expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
      expect(tokens[0]).toMatchObject({ tokenType: 'Bearer', scope: 'tiles:read' });
      expect(requests).toHaveLength(1);
      const form = requests[0]!;
      expect(form.get('grant_type')).toBe('client_credentials');
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      expect(form.has('client_secret')).toBe(false);
      const claims = claimsOf(form.get('client_assertion'));
      expect(claims).toMatchObject({ iss: clientId, sub: clientId, aud: `${issuer}/token` });
      expect((claims.exp as number) - (claims.iat as number)).toBe(300);
    });
  }

  it('every algorithm from a non-extractable CryptoKey (the algorithm read from the key)', async () => {
    for (const alg of ['RS256', 'ES256', 'PS256'] as const) {
      const { clientId, kid, cryptoKey } = clients[alg]!;
      const token = await session({ clientId, privateKey: cryptoKey, kid }).getToken();
      expect(token.accessToken.length).toBeGreaterThan(10);
    }
  });

  it('each request signs a new assertion: oidc-provider refuses a replayed jti, and none is refused here', async () => {
    const { clientId, kid, pem } = clients.RS256!;
    const one = session({ clientId, privateKey: pem, kid });
    for (let index = 0; index < 3; index++) await one.getToken({ forceRefresh: true });
    expect(new Set(requests.map((form) => claimsOf(form.get('client_assertion')).jti)).size).toBe(3);
  });

  it('a wrong key → invalid_client (not retried), and it never joins the right key\'s session', async () => {
    const { clientId, kid, pem } = clients.RS256!;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const wrongPem = await exportPKCS8(privateKey);
    const error = await failure(session({ clientId, privateKey: wrongPem, kid }).getToken());
    expect(error).toMatchObject({ code: 'invalid_client', oauthError: 'invalid_client', status: 401 });
    expect(requests).toHaveLength(1);
    const body = wrongPem.replace(/-----[A-Z ]+-----|\s/g, '');
    expect(`${error.message}${error.stack}${JSON.stringify({ ...error })}`).not.toContain(body.slice(100, 140));
    const right = jwtClientCredentials({ tokenUrl: `${issuer}/token`, clientId, privateKey: pem, kid });
    const wrong = jwtClientCredentials({ tokenUrl: `${issuer}/token`, clientId, privateKey: wrongPem, kid });
    expect(right.key).not.toBe(wrong.key);
    expect(right.key).not.toContain(pem.slice(40, 80));
  });

  it('an EC key cannot sign RS256, an RSA key cannot sign ES256; bad options are invalid_options', () => {
    const tokenUrl = `${issuer}/token`;
    const { pem: ecPem } = clients.ES256!;
    const { pem: rsaPem, cryptoKey } = clients.RS256!;
    const bad: Array<() => unknown> = [
      () => jwtClientCredentials({ tokenUrl, clientId: 'a', privateKey: ecPem, alg: 'RS256' }),
      () => jwtClientCredentials({ tokenUrl, clientId: 'a', privateKey: rsaPem, alg: 'ES256' }),
      () => jwtClientCredentials({ tokenUrl, clientId: 'a', privateKey: cryptoKey, kid: 'k', alg: 'PS256' }),
      () => jwtClientCredentials({ tokenUrl, clientId: 'a', privateKey: cryptoKey }),
      () => jwtClientCredentials({ tokenUrl, clientId: 'a', privateKey: 'not a pem' }),
      () => jwtClientCredentials({ tokenUrl, clientId: 'a', privateKey: rsaPem, assertionLifetime: 3601 }),
      () => jwtClientCredentials({ tokenUrl, clientId: '', privateKey: rsaPem }),
    ];
    for (const make of bad) {
      let error: unknown;
      try {
        make();
      } catch (caught) {
        error = caught;
      }
      expect(isSessionError(error, 'invalid_options'), String(error)).toBe(true);
    }
  });
});
