import { hashKey } from '../core/digest.js';
import { SessionError, type ErrorCode } from '../core/errors.js';

/** The JWS algorithms this package signs with (Web Crypto only, so that the same code runs in every runtime). */
export type JwtAlgorithm = 'RS256' | 'ES256' | 'PS256';

/** What a key is, as far as signing needs to know: which algorithm, and how to tell it from other keys. */
export interface KeyFacts {
  readonly alg: JwtAlgorithm;
  /** A SHA-256 of the key's public part (RSA modulus and exponent, EC point): never of the private key itself. */
  readonly fingerprint: string | undefined;
}

/** Signs with one private key, imported once as a non-extractable `CryptoKey`. */
export interface Signer {
  readonly alg: JwtAlgorithm;
  sign(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
}

const OID_RSA = '2a864886f70d010101';
const OID_RSA_PSS = '2a864886f70d01010a';
const OID_EC = '2a8648ce3d0201';
const OID_P256 = '2a8648ce3d030107';
const OID_ED25519 = '2b6570';
const OID_ED448 = '2b6571';
/** AlgorithmIdentifier { rsaEncryption, NULL }: the only label Web Crypto imports an RSA-PSS PKCS#8 key under. */
const RSA_ENCRYPTION_ALGORITHM = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

const IMPORT_PARAMS: Record<JwtAlgorithm, RsaHashedImportParams | EcKeyImportParams> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
};

const SIGN_PARAMS: Record<JwtAlgorithm, AlgorithmIdentifier | RsaPssParams | EcdsaParams> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  // RFC 7518 §3.5: the salt is as long as the hash.
  PS256: { name: 'RSA-PSS', saltLength: 32 },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
};

/** Where a key came from, for error messages: the option or key-file field (never its value) and the code to use. */
export interface KeySource {
  readonly field: string;
  readonly code: ErrorCode;
}

/**
 * A private key, prepared for signing: a PKCS#8 PEM is decoded now (synchronously, to know its algorithm and its public
 * fingerprint for the credential key) and imported on first use; a `CryptoKey` is used as it is. Either way the key is
 * imported once, kept non-extractable, and its bytes are wiped once imported.
 */
export function prepareKey(
  privateKey: CryptoKey | string,
  requested: JwtAlgorithm | undefined,
  source: KeySource,
): KeyFacts & { signer(): Promise<Signer> } {
  const fail = failure(source);
  if (requested !== undefined && !(requested in IMPORT_PARAMS)) {
    throw new SessionError('invalid_options', 'alg must be RS256, ES256 or PS256');
  }
  if (isCryptoKey(privateKey)) return cryptoKeySigner(privateKey, requested, fail);
  if (typeof privateKey !== 'string') throw fail('must be a PKCS#8 PEM string or a CryptoKey');
  const der = pemToDer(privateKey, fail);
  const info = readPkcs8(der, fail);
  const alg = requested ?? info.alg;
  if (alg !== info.alg && !(info.alg === 'RS256' && alg === 'PS256')) {
    throw fail(`is ${info.alg === 'ES256' ? 'an EC P-256' : 'an RSA'} key, which cannot sign ${alg}`);
  }
  // Only the decoded bytes go on: the closures below are made in another function, so that the context they share
  // does not hold the PEM string (a string cannot be wiped; it must at least not stay reachable from the provider).
  return pkcs8Signer(info.rsaPss ? asRsaEncryption(der, fail) : der, alg, info.fingerprint, source);
}

function failure(source: KeySource): (reason: string) => SessionError {
  return (reason) => new SessionError(source.code, `${source.field} ${reason}`);
}

function cryptoKeySigner(
  key: CryptoKey,
  requested: JwtAlgorithm | undefined,
  fail: (reason: string) => SessionError,
): KeyFacts & { signer(): Promise<Signer> } {
  const alg = algorithmOfCryptoKey(key, fail);
  if (requested !== undefined && requested !== alg) throw fail(`is a ${alg} key, not a ${requested} key`);
  const signer: Signer = { alg, sign: (data) => sign(alg, key, data) };
  return { alg, fingerprint: undefined, signer: () => Promise.resolve(signer) };
}

/** Imports `der` on first use as a non-extractable key, then wipes it. */
function pkcs8Signer(
  der: Uint8Array<ArrayBuffer>,
  alg: JwtAlgorithm,
  fingerprint: string | undefined,
  source: KeySource,
): KeyFacts & { signer(): Promise<Signer> } {
  let bytes: Uint8Array<ArrayBuffer> | undefined = der;
  let pending: Promise<Signer> | undefined;
  return {
    alg,
    fingerprint,
    signer() {
      pending ??= (async () => {
        const held = bytes;
        if (held === undefined) throw failure(source)('could not be imported');
        bytes = undefined;
        try {
          const key = await crypto.subtle.importKey('pkcs8', held, IMPORT_PARAMS[alg], false, ['sign']);
          return { alg, sign: (data: Uint8Array<ArrayBuffer>) => sign(alg, key, data) };
        } catch (error) {
          // The runtime's reason, never the key: Web Crypto errors do not quote key material.
          throw new SessionError(source.code, `${source.field} could not be imported as a ${alg} signing key`, {
            cause: (error as { name?: unknown } | null)?.name,
          });
        } finally {
          held.fill(0);
        }
      })();
      // A failed import stays failed: the key cannot change.
      return pending;
    },
  };
}

async function sign(alg: JwtAlgorithm, key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.sign(SIGN_PARAMS[alg], key, data));
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey !== 'undefined' && value instanceof CryptoKey;
}

function algorithmOfCryptoKey(key: CryptoKey, fail: (reason: string) => SessionError): JwtAlgorithm {
  if (key.type !== 'private' || !key.usages.includes('sign')) throw fail('must be a private key with the sign usage');
  const algorithm = key.algorithm as Partial<RsaHashedKeyAlgorithm & EcKeyAlgorithm>;
  const hash = typeof algorithm.hash === 'object' ? algorithm.hash.name : algorithm.hash;
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' && hash === 'SHA-256') return 'RS256';
  if (algorithm.name === 'RSA-PSS' && hash === 'SHA-256') return 'PS256';
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') return 'ES256';
  throw fail('must be an RSASSA-PKCS1-v1_5 or RSA-PSS key with SHA-256, or an ECDSA P-256 key');
}

function pemToDer(pem: string, fail: (reason: string) => SessionError): Uint8Array<ArrayBuffer> {
  // Key files carry the PEM with `\n` escapes already decoded by JSON.parse; environment variables sometimes keep
  // them literally (`-----BEGIN PRIVATE KEY-----\nMIIE…`), so both are read.
  const text = pem.replace(/\\n/g, '\n').trim();
  const match = /^-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----$/.exec(text);
  if (match === null) {
    const kind = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
    throw fail(kind === undefined || kind === 'PRIVATE KEY' ? 'must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)' : wrongPem(kind));
  }
  try {
    const binary = atob(match[1]!.replace(/\s+/g, ''));
    const bytes = new Uint8Array(binary.length);
    for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
    return bytes;
  } catch {
    throw fail('is not valid base64 PEM');
  }
}

/** What to say about a PEM of another kind than `PRIVATE KEY`: the mistake it most likely is. */
function wrongPem(kind: string): string {
  if (/PUBLIC KEY$/.test(kind)) {
    return `is a public key (${kind}): give the private key of the pair; the server is the one that knows the public key`;
  }
  if (/CERTIFICATE/.test(kind)) {
    return `is a certificate (${kind}), which holds a public key only: give the private key it was issued for`;
  }
  if (kind === 'ENCRYPTED PRIVATE KEY') {
    return 'is an encrypted private key: decrypt it first (openssl pkcs8 -topk8 -nocrypt)';
  }
  if (kind === 'RSA PRIVATE KEY' || kind === 'EC PRIVATE KEY') {
    return `must be a PKCS#8 PEM private key, not ${kind} (convert it with: openssl pkcs8 -topk8 -nocrypt)`;
  }
  return `must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----), not ${kind}`;
}

// ---------------------------------------------------------------------------------------------------------------
// A minimal DER reader: just enough of PKCS#8 (RFC 5208), RSAPrivateKey (RFC 8017) and ECPrivateKey (RFC 5915) to
// know the algorithm and the public part of a key. Web Crypto does the real parsing when it imports the key.

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function readTlv(bytes: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new RangeError('truncated');
  const tag = bytes[offset]!;
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || start + count > limit) throw new RangeError('bad length');
    length = 0;
    for (let index = 0; index < count; index++) length = (length << 8) | bytes[start + index]!;
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new RangeError('truncated');
  return { tag, start, end };
}

/** The elements of a constructed value (SEQUENCE, or an explicit tag). */
function children(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end; offset = out[out.length - 1]!.end) {
    out.push(readTlv(bytes, offset, parent.end));
  }
  return out;
}

function hex(bytes: Uint8Array, tlv: Tlv): string {
  let out = '';
  for (let index = tlv.start; index < tlv.end; index++) out += bytes[index]!.toString(16).padStart(2, '0');
  return out;
}

interface Pkcs8Facts extends KeyFacts {
  /** Labelled id-RSASSA-PSS, which Web Crypto refuses to import (it must be relabelled rsaEncryption first). */
  readonly rsaPss: boolean;
}

function readPkcs8(der: Uint8Array, fail: (reason: string) => SessionError): Pkcs8Facts {
  try {
    const outer = readTlv(der, 0, der.length);
    const [version, algorithm, privateKey] = children(der, outer);
    if (outer.tag !== 0x30 || version?.tag !== 0x02 || algorithm?.tag !== 0x30 || privateKey?.tag !== 0x04) {
      throw new RangeError('not PKCS#8');
    }
    const [oid, parameters] = children(der, algorithm);
    const kind = oid?.tag === 0x06 ? hex(der, oid) : '';
    // Named before the private key is parsed: an EdDSA key's inner value is an OCTET STRING, not a SEQUENCE.
    if (kind === OID_ED25519 || kind === OID_ED448) {
      throw fail(`is an ${kind === OID_ED25519 ? 'Ed25519' : 'Ed448'} key; only RSA (RS256, PS256) and EC P-256 (ES256) keys can sign here`);
    }
    if (kind !== OID_RSA && kind !== OID_RSA_PSS && kind !== OID_EC) {
      throw fail('is neither an RSA nor an EC P-256 key (only RS256, PS256 and ES256 can be signed)');
    }
    const inner = readTlv(der, privateKey.start, privateKey.end);
    const fields = children(der, inner);
    if (kind !== OID_EC) {
      // RSAPrivateKey: version, modulus, publicExponent, …
      const [, modulus, exponent] = fields;
      if (modulus?.tag !== 0x02 || exponent?.tag !== 0x02) throw new RangeError('not an RSA key');
      const fingerprint = hashKey(`rsa:${hex(der, modulus)}:${hex(der, exponent)}`);
      return { alg: kind === OID_RSA ? 'RS256' : 'PS256', fingerprint, rsaPss: kind === OID_RSA_PSS };
    }
    if (parameters === undefined || hex(der, parameters) !== OID_P256) throw fail('is an EC key on a curve other than P-256');
    // ECPrivateKey: version, privateKey, [0] parameters, [1] publicKey (present in the keys Web Crypto and OpenSSL write).
    const publicKey = fields.find((field) => field.tag === 0xa1);
    const point = publicKey === undefined ? undefined : children(der, publicKey)[0];
    // Without its public point the key is told apart by a digest of the whole key, as client secrets are.
    const fingerprint =
      point === undefined ? hashKey(`shared-session private key\u0000${hex(der, outer)}`) : hashKey(`ec:${hex(der, point)}`);
    return { alg: 'ES256', fingerprint, rsaPss: false };
  } catch (error) {
    if (error instanceof SessionError) throw error;
    throw fail('is not a readable PKCS#8 private key');
  }
}

/**
 * The same PKCS#8 labelled rsaEncryption: Web Crypto imports RSA-PSS keys only under that label (WebCrypto, RSA-PSS
 * import of pkcs8), while OpenSSL writes `genpkey -algorithm RSA-PSS` keys as id-RSASSA-PSS. The RSAPrivateKey inside
 * is the same either way. The input bytes are wiped.
 */
function asRsaEncryption(der: Uint8Array<ArrayBuffer>, fail: (reason: string) => SessionError): Uint8Array<ArrayBuffer> {
  try {
    const outer = readTlv(der, 0, der.length);
    const [version, , privateKey] = children(der, outer);
    if (version?.tag !== 0x02 || privateKey?.tag !== 0x04) throw new RangeError('not PKCS#8');
    const body = [
      ...derHeader(0x02, version.end - version.start),
      ...der.subarray(version.start, version.end),
      ...RSA_ENCRYPTION_ALGORITHM,
      ...derHeader(0x04, privateKey.end - privateKey.start),
      ...der.subarray(privateKey.start, privateKey.end),
    ];
    const out = new Uint8Array([...derHeader(0x30, body.length), ...body]);
    body.fill(0);
    return out;
  } catch {
    throw fail('is not a readable PKCS#8 private key');
  } finally {
    der.fill(0);
  }
}

/** A DER tag and length (definite form). */
function derHeader(tag: number, length: number): number[] {
  if (length < 0x80) return [tag, length];
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) octets.unshift(rest & 0xff);
  return [tag, 0x80 | octets.length, ...octets];
}
