import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';
import { createClient } from '../../src/client.js';
import { createDPoPProof, generateDPoPKey, importDPoPKey } from '../../src/dpop.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';
import { startDPoPServers, type DPoPServers } from '../support/dpop-servers.js';

// DPoP (RFC 9449) for servers: client credentials against oidc-provider with DPoP required for the client and nonces
// on, and an API that validates every proof strictly (test/support/dpop-servers.ts).

let servers: DPoPServers;
const open: Session[] = [];

beforeAll(async () => {
  servers = await startDPoPServers();
});
afterAll(async () => {
  await servers.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
});

function dpopSession(dpop: Parameters<typeof createSession>[0]['dpop'] = true, fetch?: typeof globalThis.fetch): Session {
  const session = createSession({
    provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret, scope: 'api' }),
    sharing: memorySharing(),
    dpop,
    ...(fetch === undefined ? {} : { fetch }),
  });
  open.push(session);
  return session;
}

function counts(): DPoPServers['counts'] {
  return { ...servers.counts };
}

function delta(before: DPoPServers['counts']): Partial<DPoPServers['counts']> {
  const now = servers.counts;
  return Object.fromEntries(Object.entries(now).map(([name, value]) => [name, value - before[name as keyof typeof before]]).filter(([, d]) => d !== 0));
}

/** The token requests a session sent, as they went out (for replay by a thief who saw them). */
function recordingFetch(sent: Array<{ body: string; dpop: string | null }>): typeof globalThis.fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    sent.push({ body: String(init?.body ?? ''), dpop: headers.get('dpop') });
    return globalThis.fetch(input, init);
  };
}

describe('client credentials with DPoP against oidc-provider (DPoP required, nonces on)', () => {
  it('gets a DPoP token bound to the session key, answering the provider nonce challenge once with a fresh proof', async () => {
    const sent: Array<{ body: string; dpop: string | null }> = [];
    const before = counts();
    const session = dpopSession(true, recordingFetch(sent));
    const token = await session.getToken();
    expect(token.tokenType).toBe('DPoP');
    expect(await servers.boundKey(token.accessToken)).toBe(await session.dpop!.jkt());
    // 1 challenge (no nonce yet), answered once: 2 requests, 1 token, every proof its own jti.
    expect(delta(before)).toEqual({ tokenRequests: 2, tokenNonceChallenges: 1, tokensIssued: 1 });
    expect(sent).toHaveLength(2);
    const proofs = sent.map((request) => decodeJwt(request.dpop!));
    expect(new Set(proofs.map((proof) => proof.jti)).size).toBe(2);
    expect(proofs[0]!.nonce).toBeUndefined();
    expect(typeof proofs[1]!.nonce).toBe('string');
    for (const proof of proofs) {
      expect(proof).toMatchObject({ htm: 'POST', htu: servers.tokenUrl });
      expect(proof.ath).toBeUndefined();
    }
    expect(servers.counts.replayedJti).toBe(0);
  });

  it('createClient: the API accepts every call; its nonce challenge is answered once, then the nonce is reused', async () => {
    const session = dpopSession();
    const api = createClient(session);
    const before = counts();
    await expect(api.get(servers.apiUrl).json()).resolves.toEqual({ ok: true });
    expect(delta(before)).toMatchObject({ apiCalls: 2, apiNonceChallenges: 1, apiAccepted: 1 });
    const again = counts();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => api.get(`${servers.apiUrl}?page=${i}`).json()));
    expect(results).toEqual(Array.from({ length: 12 }, () => ({ ok: true })));
    expect(delta(again)).toEqual({ apiCalls: 12, apiAccepted: 12 });
    // A stale nonce: challenged once more, answered once.
    servers.rotateApiNonce();
    const rotated = counts();
    await expect(api.post(servers.apiUrl, { json: { a: 1 } }).json()).resolves.toEqual({ ok: true });
    expect(delta(rotated)).toEqual({ apiCalls: 2, apiNonceChallenges: 1, apiAccepted: 1 });
    expect(servers.counts.replayedJti).toBe(0);
    expect(servers.refusals.filter((refusal) => refusal.startsWith('api'))).toEqual([]);
  });

  it('fetchWithToken sends Authorization: DPoP and a proof for this method, URL (no query) and token', async () => {
    const session = dpopSession();
    const seen: Headers[] = [];
    const response = await fetchWithToken(session, new Request(`${servers.apiUrl}?q=1#frag`, { method: 'DELETE' }), {
      fetch: (request, init) => {
        seen.push(new Headers(init?.headers));
        return globalThis.fetch(request, init);
      },
    });
    expect(response.status).toBe(200);
    const { accessToken } = await session.getToken();
    const last = seen.at(-1)!;
    expect(last.get('authorization')).toBe(`DPoP ${accessToken}`);
    const proof = decodeJwt(last.get('dpop')!);
    expect(proof).toMatchObject({ htm: 'DELETE', htu: servers.apiUrl, ath: createHash('sha256').update(accessToken).digest('base64url') });
  });

  it('session.dpopProof: a proof the strict API accepts for a request the app builds itself', async () => {
    const session = dpopSession();
    const { accessToken } = await session.getToken();
    servers.apiNonce = false;
    try {
      const proof = await session.dpopProof({ method: 'GET', url: `${servers.apiUrl}?x=1` });
      const response = await fetch(`${servers.apiUrl}?x=1`, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
      expect(response.status).toBe(200);
      // One proof, one request: the same proof again is a replay.
      const replay = await fetch(`${servers.apiUrl}?x=1`, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
      expect(replay.status).toBe(401);
    } finally {
      servers.apiNonce = true;
    }
  });
});

describe('a stolen token is useless without the key', () => {
  it('the API refuses it as Bearer, without a proof, with another key, with a replayed proof, or for another URL', async () => {
    servers.apiNonce = false;
    try {
      const proofs: string[] = [];
      const session = dpopSession();
      const api = createClient(session, {
        fetch: (request, init) => {
          proofs.push(new Headers(init?.headers).get('dpop')!);
          return globalThis.fetch(request, init);
        },
      });
      await api.get(servers.apiUrl);
      const { accessToken } = await session.getToken();
      const thief = await generateDPoPKey();
      const call = (headers: Record<string, string>, url = servers.apiUrl): Promise<number> => fetch(url, { headers }).then((r) => r.status);
      const refusedBefore = servers.counts.apiRefused;
      expect(await call({ authorization: `Bearer ${accessToken}` })).toBe(401);
      expect(await call({ authorization: `DPoP ${accessToken}` })).toBe(401);
      const otherKey = await createDPoPProof(thief, { method: 'GET', url: servers.apiUrl, accessToken });
      expect(await call({ authorization: `DPoP ${accessToken}`, dpop: otherKey })).toBe(401);
      expect(await call({ authorization: `DPoP ${accessToken}`, dpop: proofs.at(-1)! })).toBe(401);
      const forOtherPath = await session.dpopProof({ method: 'GET', url: `${servers.apiUrl}/admin`, accessToken });
      expect(await call({ authorization: `DPoP ${accessToken}`, dpop: forOtherPath })).toBe(401);
      const forPost = await session.dpopProof({ method: 'POST', url: servers.apiUrl, accessToken });
      expect(await call({ authorization: `DPoP ${accessToken}`, dpop: forPost })).toBe(401);
      expect(servers.counts.apiRefused - refusedBefore).toBe(6);
      expect(servers.refusals.slice(-6).map((r) => r.replace(/^api: /, ''))).toEqual([
        'not a DPoP authorization (Bearer)',
        'no DPoP proof',
        'cnf.jkt is not the proof key',
        'jti replayed',
        'htu does not match the request',
        'htm POST is not GET',
      ]);
    } finally {
      servers.apiNonce = true;
    }
  });

  it('the provider refuses a replayed token request, and one without a proof or with a proof of another key for a bound session', async () => {
    const sent: Array<{ body: string; dpop: string | null }> = [];
    const session = dpopSession(true, recordingFetch(sent));
    await session.getToken();
    const success = sent.at(-1)!;
    const post = (headers: Record<string, string>): Promise<Response> =>
      fetch(servers.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: success.body });
    // The very request that got the token, sent again: its proof was spent.
    const replay = await post({ dpop: success.dpop! });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toMatch(/invalid_dpop_proof|invalid_grant|use_dpop_nonce/);
    // The client requires DPoP: no proof, no token.
    const bare = await post({});
    expect(bare.status).toBe(400);
    expect(servers.counts.replayedJti).toBeGreaterThanOrEqual(1);
  });
});

describe('app-provided keys', () => {
  it('a PKCS#8 PEM and a JWK of the same key give one jkt; the token is bound to it; the private key stays non-extractable', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const jwk = privateKey.export({ format: 'jwk' }) as JsonWebKey;
    const fromPem = await importDPoPKey(pem);
    const fromJwk = await importDPoPKey(jwk);
    const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } as JWK;
    expect(fromPem.jkt).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
    expect(fromJwk.jkt).toBe(fromPem.jkt);
    expect(fromPem.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('jwk', fromPem.privateKey)).rejects.toThrow();
    expect(JSON.stringify(fromPem)).not.toContain(jwk.d);

    const session = dpopSession({ key: pem });
    const { accessToken, tokenType } = await session.getToken();
    expect(tokenType).toBe('DPoP');
    expect(await servers.boundKey(accessToken)).toBe(fromPem.jkt);
    // Another session with the same key as a JWK works with that token's proofs.
    const proof = await createDPoPProof(fromJwk, { method: 'GET', url: servers.apiUrl, accessToken });
    servers.apiNonce = false;
    try {
      const response = await fetch(servers.apiUrl, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
      expect(response.status).toBe(200);
    } finally {
      servers.apiNonce = true;
    }
  });

  it('sessions with different keys (or none) never share a token', () => {
    const provider = clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret });
    const sharing = memorySharing();
    const { privateKey: a } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { privateKey: b } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = [
      createSession({ provider, sharing }),
      createSession({ provider, sharing, dpop: true }),
      createSession({ provider, sharing, dpop: { key: a.export({ format: 'jwk' }) as JsonWebKey } }),
      createSession({ provider, sharing, dpop: { key: b.export({ format: 'jwk' }) as JsonWebKey } }),
      createSession({ provider, sharing, dpop: { key: b.export({ format: 'pem', type: 'pkcs8' }).toString() } }),
    ];
    open.push(...keys);
    expect(new Set(keys.map((session) => session.key)).size).toBe(5);
    for (const session of keys) expect(session.key).not.toContain(servers.clientSecret);
    // The same key twice: one session.
    const again = createSession({ provider, sharing, dpop: { key: a.export({ format: 'jwk' }) as JsonWebKey } });
    open.push(again);
    expect(again.key).toBe(keys[2]!.key);
  });

  it('bad keys and options are invalid_options, never a bare TypeError', async () => {
    const provider = clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret });
    expect(() => createSession({ provider, sharing: memorySharing(), dpop: 'yes' as never })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    expect(() => createSession({ provider, sharing: memorySharing(), dpop: { allowBearer: 'no' as never } })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    await expect(importDPoPKey('-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----')).rejects.toMatchObject({ code: 'invalid_options', message: expect.stringContaining('openssl pkcs8') });
    await expect(importDPoPKey({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' })).rejects.toMatchObject({ code: 'invalid_options' });
    await expect(importDPoPKey('not a key')).rejects.toMatchObject({ code: 'invalid_options' });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expect(importDPoPKey(publicKey.export({ format: 'pem', type: 'spki' }).toString())).rejects.toMatchObject({ code: 'invalid_options' });
    const session = createSession({ provider, sharing: memorySharing(), dpop: { key: 'garbage' } });
    open.push(session);
    await expect(session.getToken()).rejects.toMatchObject({ code: 'invalid_options' });
    const bearer = createSession({ provider, sharing: memorySharing() });
    open.push(bearer);
    await expect(bearer.dpopProof({ method: 'GET', url: servers.apiUrl })).rejects.toMatchObject({ code: 'invalid_options' });
  });
});

/** A token endpoint that ignores DPoP (or fails on purpose) and an API, recording every proof it was sent. */
async function startPlainServer(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void readBody(req).then((body) => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('token types and retries', () => {
  it('a Bearer answer to a DPoP request is refused unless the app allows the downgrade; a DPoP token without a proof is refused', async () => {
    let tokenType = 'Bearer';
    const plain = await startPlainServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `t-${Math.random()}`, token_type: tokenType, expires_in: 300 }));
    });
    try {
      const provider = clientCredentials({ tokenUrl: `${plain.url}/token`, clientId: 'c', clientSecret: 's', attempts: 1 });
      const strict = createSession({ provider, sharing: memorySharing(), dpop: true });
      const lenient = createSession({ provider, sharing: memorySharing(), dpop: { allowBearer: true } });
      const bearer = createSession({ provider, sharing: memorySharing() });
      open.push(strict, lenient, bearer);
      await expect(strict.getToken()).rejects.toMatchObject({ code: 'invalid_response', message: expect.stringContaining('Bearer') });
      await expect(lenient.getToken()).resolves.toMatchObject({ tokenType: 'Bearer' });
      tokenType = 'dpop';
      await expect(bearer.getToken()).rejects.toMatchObject({ code: 'invalid_response', message: expect.stringContaining('no DPoP proof') });
      await expect(strict.getToken()).resolves.toMatchObject({ tokenType: 'DPoP' });
      tokenType = 'N_A';
      await expect(createSession({ provider, sharing: memorySharing(), dpop: true }).getToken()).rejects.toMatchObject({ code: 'invalid_response' });
    } finally {
      await plain.close();
    }
  });

  it('every attempt of a token request and of an API call carries a fresh proof (new jti), the nonce challenge included', async () => {
    const tokenProofs: string[] = [];
    const apiProofs: string[] = [];
    let tokenFailures = 2;
    let apiFailures = 1;
    const plain = await startPlainServer((req, res) => {
      const proof = req.headers.dpop as string;
      if (req.url === '/token') {
        tokenProofs.push(proof);
        if (tokenFailures-- > 0) return void res.writeHead(503).end();
        if (decodeJwt(proof).nonce !== 'n-1') {
          return void res.writeHead(400, { 'content-type': 'application/json', 'dpop-nonce': 'n-1' }).end('{"error":"use_dpop_nonce"}');
        }
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'bound', token_type: 'DPoP', expires_in: 300 }));
      }
      apiProofs.push(proof);
      if (apiFailures-- > 0) return void res.writeHead(503, { 'retry-after': '0' }).end();
      if (decodeJwt(proof).nonce !== 'api-1') {
        return void res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'api-1' }).end();
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    try {
      const session = createSession({
        provider: clientCredentials({ tokenUrl: `${plain.url}/token`, clientId: 'c', clientSecret: 's', backoff: 1 }),
        sharing: memorySharing(),
        dpop: true,
      });
      open.push(session);
      await expect(createClient(session, { retry: { limit: 2, delay: () => 1 } }).get(`${plain.url}/api`).json()).resolves.toEqual({ ok: true });
      // Token: 2 × 503, 1 challenge, 1 success. API: 1 × 503, 1 challenge, 1 success.
      expect(tokenProofs).toHaveLength(4);
      expect(apiProofs).toHaveLength(3);
      const all = [...tokenProofs, ...apiProofs];
      expect(new Set(all.map((proof) => decodeJwt(proof).jti)).size).toBe(all.length);
      for (const proof of all) await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
      expect(decodeProtectedHeader(all[0]!).jwk).toEqual(decodeProtectedHeader(all.at(-1)!).jwk);
    } finally {
      await plain.close();
    }
  });

  it('a server that challenges every proof costs one retry, not a loop', async () => {
    let tokenCalls = 0;
    let apiCalls = 0;
    const plain = await startPlainServer((req, res) => {
      if (req.url === '/token') {
        tokenCalls++;
        return void res.writeHead(400, { 'content-type': 'application/json', 'dpop-nonce': `n-${tokenCalls}` }).end('{"error":"use_dpop_nonce"}');
      }
      apiCalls++;
      res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': `a-${apiCalls}` }).end();
    });
    try {
      const provider = clientCredentials({ tokenUrl: `${plain.url}/token`, clientId: 'c', clientSecret: 's' });
      const session = createSession({ provider, sharing: memorySharing(), dpop: true });
      open.push(session);
      await expect(session.getToken()).rejects.toMatchObject({ code: 'request_failed', oauthError: 'use_dpop_nonce' });
      expect(tokenCalls).toBe(2);
    } finally {
      await plain.close();
    }
  });
});

describe('proofs and keys under hostile or concurrent input', () => {
  it('htu is the URL without query, fragment or user:password, whatever the URL; htm is the method fetch sends', async () => {
    const fc = await import('fast-check');
    const key = await generateDPoPKey();
    await fc.assert(
      fc.asyncProperty(fc.webUrl({ withQueryParameters: true, withFragments: true, authoritySettings: { withUserInfo: true } }), fc.constantFrom('get', 'post', 'PATCH', 'patch', 'delete'), async (url, method) => {
        const proof = decodeJwt(await createDPoPProof(key, { method, url }));
        const parsed = new URL(url);
        expect(proof.htu).toBe(`${parsed.origin}${parsed.pathname}`);
        // No query, fragment or user:password ('@' itself is allowed in a path: `https://host/@user` is such a URL).
        const htu = new URL(String(proof.htu));
        expect({ search: htu.search, hash: htu.hash, username: htu.username, password: htu.password }).toEqual({ search: '', hash: '', username: '', password: '' });
        const withoutCredentials = new URL(url);
        withoutCredentials.username = '';
        withoutCredentials.password = '';
        expect(proof.htm).toBe(new Request(withoutCredentials, { method }).method);
      }),
      { numRuns: 60 },
    );
    for (const bad of ['ftp://x.example/a', 'javascript:alert(1)', 'not a url', '']) {
      await expect(createDPoPProof(key, { method: 'GET', url: bad })).rejects.toMatchObject({ code: 'invalid_options' });
    }
    for (const nonce of ['a"b', 'a\\b', 'a b', '\n']) {
      await expect(createDPoPProof(key, { method: 'GET', url: 'https://x.example/', nonce })).rejects.toMatchObject({ code: 'invalid_options' });
    }
    await expect(createDPoPProof(key, { method: 'GE T', url: 'https://x.example/' })).rejects.toMatchObject({ code: 'invalid_options' });
  });

  it('dpop: true in 8 sessions at once creates one process key, never two racing', async () => {
    const plain = await startPlainServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `t-${Math.random()}`, token_type: 'DPoP', expires_in: 300 }));
    });
    try {
      const sessions = Array.from({ length: 8 }, (_, i) =>
        createSession({ provider: clientCredentials({ tokenUrl: `${plain.url}/token`, clientId: `c-${i}`, clientSecret: 's' }), sharing: memorySharing(), dpop: true }),
      );
      open.push(...sessions);
      await Promise.all(sessions.map((session) => session.getToken()));
      const thumbprints = await Promise.all(sessions.map((session) => session.dpop!.jkt()));
      expect(new Set(thumbprints).size).toBe(1);
    } finally {
      await plain.close();
    }
  });
});
