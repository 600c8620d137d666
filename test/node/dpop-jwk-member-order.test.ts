import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';

/**
 * Review of issue 25: a Redis fleet (or a Durable Object chain) shares one token only when every member's session has
 * the same key, and with `dpop: { key }` that key names the DPoP key by a digest of what the app gave. The same
 * private JWK with its members in another order (one process parses it from a secrets manager, another exports it
 * with `crypto.createPrivateKey(…).export({ format: 'jwk' })`) named another credential: one token request per
 * member instead of one for the fleet. Expected: the same JWK, whatever its member order, is one credential.
 */
const open: Session[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
});

describe('dpop.key as a JWK names one credential whatever the order of its members', () => {
  it('two orders of the same JWK: one session key; another key: another', () => {
    const provider = clientCredentials({ tokenUrl: 'https://op.example/token', clientId: 'c', clientSecret: 's' });
    const sharing = memorySharing();
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    const reordered = Object.fromEntries(Object.entries(jwk).reverse());
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(jwk));
    const a = createSession({ provider, sharing, dpop: { key: jwk } });
    const b = createSession({ provider, sharing, dpop: { key: reordered } });
    const other = createSession({ provider, sharing, dpop: { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JsonWebKey } });
    open.push(a, b, other);
    expect(b.key).toBe(a.key);
    expect(other.key).not.toBe(a.key);
    expect(a.key).not.toContain(jwk.d);
  });

  it('a key that is neither a string nor an object (null, a number) is invalid_options, never a TypeError', async () => {
    const provider = clientCredentials({ tokenUrl: 'https://op.example/token', clientId: 'c', clientSecret: 's' });
    for (const key of [null, 42, true]) {
      const session = createSession({ provider, sharing: memorySharing(), dpop: { key: key as never } });
      open.push(session);
      await expect(session.getToken()).rejects.toMatchObject({ name: 'SessionError', code: 'invalid_options' });
    }
  });
});
