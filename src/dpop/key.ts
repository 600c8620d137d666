import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, importPKCS8, type JWK } from 'jose';
import type { DPoPAlgorithm, DPoPKey } from '../core/dpop.js';
import { SessionError } from '../core/errors.js';

export type { DPoPAlgorithm, DPoPKey } from '../core/dpop.js';

const ALGORITHMS: readonly DPoPAlgorithm[] = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'];
/** RFC 7638 §3.2: the members a thumbprint is computed over, which are also all a proof's `jwk` header may carry. */
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = { EC: ['crv', 'x', 'y'], RSA: ['e', 'n'], OKP: ['crv', 'x'] };

/**
 * Generates a new DPoP key with Web Crypto: the private key is created non-extractable, so it never exists outside
 * the runtime's key store. One per process by default for servers; a fleet that shares tokens must share a key
 * instead (see `importDPoPKey`).
 */
export async function generateDPoPKey(alg: DPoPAlgorithm = 'ES256'): Promise<DPoPKey> {
  requireAlgorithm(alg);
  const pair = await generateKeyPair(alg, { extractable: false, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  return dpopKeyFromPair(pair, alg);
}

/**
 * Imports a DPoP key the app provides, for servers that must all sign with one key (a Redis fleet, a Durable Object
 * chain: every member uses the token the first one got, and the token is bound to one key). Takes a private JWK or a
 * PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). The private key is imported non-extractable; the input is not kept.
 */
export async function importDPoPKey(key: JsonWebKey | string, options: { readonly alg?: DPoPAlgorithm | undefined } = {}): Promise<DPoPKey> {
  if (options.alg !== undefined) requireAlgorithm(options.alg);
  if (typeof key === 'string') return importPem(key, options.alg);
  if (typeof key !== 'object' || key === null) throw invalidKey('must be a private JWK or a PKCS#8 PEM string');
  const jwk = key as JWK;
  if (typeof jwk.d !== 'string') throw invalidKey('must be a private key (the JWK has no "d")');
  const alg = options.alg ?? algorithmOf(jwk);
  const publicJwk = publicPart(jwk);
  const privateKey = await importOrFail(() => importJWK({ ...jwk, alg, ext: false }, alg, { extractable: false }));
  const publicKey = await importOrFail(() => importJWK({ ...publicJwk, alg }, alg, { extractable: true }));
  return dpopKeyFromPair({ privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey }, alg);
}

/**
 * A `DPoPKey` from a `CryptoKeyPair` held elsewhere (the browser keeps its pair in IndexedDB, where a structured
 * clone keeps the private key non-extractable). An extractable private key is refused: its bytes could be read out
 * and the tokens it binds used anywhere.
 */
export async function dpopKeyFromPair(pair: CryptoKeyPair, alg?: DPoPAlgorithm): Promise<DPoPKey> {
  const { privateKey, publicKey } = pair ?? {};
  if (!isCryptoKey(privateKey) || !isCryptoKey(publicKey) || privateKey.type !== 'private' || publicKey.type !== 'public') {
    throw invalidKey('must be a CryptoKeyPair');
  }
  if (privateKey.extractable) throw invalidKey('must have a non-extractable private key');
  const publicJwk = publicPart(await exportJWK(publicKey));
  const resolved = alg ?? algorithmOf(publicJwk, privateKey);
  requireAlgorithm(resolved);
  const jkt = await calculateJwkThumbprint(publicJwk, 'sha256');
  return Object.freeze({ privateKey, publicKey, alg: resolved, publicJwk: Object.freeze(publicJwk), jkt });
}

/** Whether `value` is a `DPoPKey` (made by this module, or any object of its shape). */
export function isDPoPKey(value: unknown): value is DPoPKey {
  const key = value as Partial<DPoPKey> | null;
  return typeof key === 'object' && key !== null && isCryptoKey(key.privateKey) && typeof key.jkt === 'string' && typeof key.alg === 'string';
}

async function importPem(pem: string, requested: DPoPAlgorithm | undefined): Promise<DPoPKey> {
  if (!/-----BEGIN PRIVATE KEY-----/.test(pem)) {
    throw invalidKey(
      /-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(pem)
        ? 'must be PKCS#8 (-----BEGIN PRIVATE KEY-----): convert it with `openssl pkcs8 -topk8 -nocrypt`'
        : 'must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) or a private JWK',
    );
  }
  // The public key cannot be derived from a non-extractable private one: import once extractable to read the public
  // members, then import the private key again non-extractable. The extractable copy is dropped before we return.
  const guess = requested ?? (await pemAlgorithm(pem));
  const readable = (await importOrFail(() => importPKCS8(pem, guess, { extractable: true }))) as CryptoKey;
  const jwk = await exportJWK(readable);
  return importDPoPKey(jwk, { alg: requested ?? algorithmOf(jwk) });
}

/** The algorithm of a PKCS#8 PEM, found by trying the key types Web Crypto knows (no hand-written ASN.1). */
async function pemAlgorithm(pem: string): Promise<DPoPAlgorithm> {
  for (const alg of ['ES256', 'ES384', 'PS256', 'EdDSA'] as const) {
    try {
      await importPKCS8(pem, alg, { extractable: false });
      return alg;
    } catch {
      // Not this type: try the next.
    }
  }
  throw invalidKey('is not a P-256, P-384, RSA or Ed25519 private key');
}

function algorithmOf(jwk: JWK, key?: CryptoKey): DPoPAlgorithm {
  if (typeof jwk.alg === 'string' && (ALGORITHMS as readonly string[]).includes(jwk.alg)) return jwk.alg as DPoPAlgorithm;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'RSA') return (key?.algorithm.name ?? 'RSA-PSS') === 'RSASSA-PKCS1-v1_5' ? 'RS256' : 'PS256';
  throw invalidKey('must be a P-256, P-384, RSA or Ed25519 key');
}

function publicPart(jwk: JWK): JWK {
  const members = typeof jwk.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined;
  if (members === undefined) throw invalidKey('must be an EC, RSA or OKP key');
  const out: JWK = { kty: jwk.kty! };
  for (const name of members) {
    const value = (jwk as Record<string, unknown>)[name];
    if (typeof value !== 'string') throw invalidKey(`is missing its "${name}" member`);
    (out as Record<string, unknown>)[name] = value;
  }
  return out;
}

function requireAlgorithm(alg: unknown): asserts alg is DPoPAlgorithm {
  if (!(ALGORITHMS as readonly unknown[]).includes(alg)) {
    throw new SessionError('invalid_options', `The DPoP algorithm must be one of ${ALGORITHMS.join(', ')}`);
  }
}

async function importOrFail<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    // jose's message names the problem, never the key material.
    throw new SessionError('invalid_options', 'The DPoP key could not be imported', { cause: error });
  }
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey === 'function' && value instanceof CryptoKey;
}

function invalidKey(reason: string): SessionError {
  return new SessionError('invalid_options', `The DPoP key ${reason}`);
}
