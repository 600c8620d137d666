import { generateKeyPairSync } from 'node:crypto';
import { getHeapSnapshot } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';

/*
 * Review of issue 25: `createSession({ dpop: { key } })` with a PKCS#8 PEM or a private JWK. `importDPoPKey` says
 * "the private key is imported non-extractable; the input is not kept", as the JWT providers' keys are not
 * (test/node/jwt-key-not-retained.test.ts, docs/security.md). Once the key is imported (the first token request), a
 * heap snapshot of a process holding the session must not hold the PEM's text or the JWK's `d`.
 */

/** An EC P-256 PKCS#8 PEM made outside the JS heap; `needle` (a base64 run of it) kept as a Buffer, not a string. */
function freshPem(): { pem: string; needle: Buffer } {
  const der = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' });
  const base64 = der.toString('base64');
  return { pem: `-----BEGIN PRIVATE KEY-----\n${base64.replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`, needle: Buffer.from(base64.slice(0, 64)) };
}

/** A private JWK made outside the JS heap (its `d` parsed from a Buffer); `needle` is `d`, as a Buffer. */
function freshJwk(): { jwk: JsonWebKey; needle: Buffer } {
  const text = Buffer.from(JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })));
  const jwk = JSON.parse(text.toString()) as JsonWebKey;
  return { jwk, needle: Buffer.from(jwk.d!) };
}

async function heapHolds(needle: Buffer): Promise<boolean> {
  /x/.exec('x');
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(Buffer.from(chunk as string));
  return Buffer.concat(chunks).includes(needle);
}

const tokenEndpoint = async (): Promise<Response> =>
  new Response(JSON.stringify({ access_token: 'at', token_type: 'DPoP', expires_in: 3600 }), { status: 200, headers: { 'content-type': 'application/json' } });

/** A session with a key this function drops (its caller never sees it), after its first token (the key is imported then). */
async function sessionWith(make: () => { key: string | JsonWebKey; needle: Buffer }): Promise<{ session: Session; needle: Buffer }> {
  const { key, needle } = make();
  const session = createSession({
    provider: clientCredentials({ tokenUrl: 'http://127.0.0.1:1/token', clientId: 'c', clientSecret: 's' }),
    sharing: memorySharing(),
    fetch: tokenEndpoint,
    dpop: { key },
  });
  await session.getToken();
  return { session, needle };
}

describe('a DPoP key given as PEM or JWK is not kept once imported', () => {
  it('control: a PEM the code never saw is not in the heap snapshot', async () => {
    const needle = ((): Buffer => freshPem().needle)();
    expect(await heapHolds(needle)).toBe(false);
  }, 60_000);

  it('PEM: the session holds no copy of its text', async () => {
    const { session, needle } = await sessionWith(() => {
      const { pem, needle } = freshPem();
      return { key: pem, needle };
    });
    try {
      expect((await session.getToken()).tokenType).toBe('DPoP'); // the session is alive
      expect(await heapHolds(needle)).toBe(false);
    } finally {
      await session.close();
    }
  }, 60_000);

  it('JWK: the session holds no copy of its d', async () => {
    const { session, needle } = await sessionWith(() => {
      const { jwk, needle } = freshJwk();
      return { key: jwk, needle };
    });
    try {
      expect((await session.getToken()).tokenType).toBe('DPoP');
      expect(await heapHolds(needle)).toBe(false);
    } finally {
      await session.close();
    }
  }, 60_000);
});
