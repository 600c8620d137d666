import { base64url, SignJWT } from 'jose';
import type { Clock } from '../core/clock.js';
import { SessionError } from '../core/errors.js';
import type { DPoPKey } from './key.js';
import { httpMethod } from './method.js';

/** The request a DPoP proof is for. */
export interface DPoPProofRequest {
  /** The HTTP method, as fetch sends it (`get` is sent as `GET`, `patch` as it is). */
  readonly method: string;
  /** The request's URL; its query and fragment are not part of the proof (`htu`, RFC 9449 §4.2). */
  readonly url: string | URL;
  /** The access token the request carries (resource requests): bound by its hash, `ath`. None for token requests. */
  readonly accessToken?: string | undefined;
  /** The server's latest `DPoP-Nonce`, when it asked for one. */
  readonly nonce?: string | undefined;
}

/** RFC 9449 §8.1: `nonce = 1*NQCHAR`. */
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * A DPoP proof JWT (RFC 9449 §4.2) for one request: `typ: dpop+jwt`, the public `jwk`, `htm`, `htu` (scheme, host,
 * port and path: no query or fragment), `iat`, a unique `jti` (128 random bits), `ath` when an access token is
 * given, and `nonce` when the server gave one. A proof is for one attempt: make a new one for every retry.
 *
 * Signed with jose (`SignJWT`), which signs with the non-extractable `CryptoKey` through Web Crypto in every
 * runtime; oauth4webapi signs proofs only inside its own requests, and keeps nonces in its handle where other
 * contexts cannot see them.
 */
export async function createDPoPProof(key: DPoPKey, request: DPoPProofRequest, clock?: Clock): Promise<string> {
  if (typeof request !== 'object' || request === null) throw new SessionError('invalid_options', 'A DPoP proof needs a request: { method, url }');
  const { method, url, accessToken, nonce } = request;
  const htm = httpMethod(method);
  const htu = targetUri(url);
  if (nonce !== undefined && (typeof nonce !== 'string' || !NONCE.test(nonce))) {
    throw new SessionError('invalid_options', 'A DPoP nonce must be 1 or more visible ASCII characters, without " or \\');
  }
  const claims: Record<string, string> = { htm, htu };
  if (accessToken !== undefined) {
    if (typeof accessToken !== 'string' || accessToken === '') throw new SessionError('invalid_options', 'accessToken must be a non-empty string');
    claims.ath = base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))));
  }
  if (nonce !== undefined) claims.nonce = nonce;
  const jti = base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
  const now = Math.floor((clock?.now() ?? Date.now()) / 1000);
  try {
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: { ...key.publicJwk } })
      .setIssuedAt(now)
      .setJti(jti)
      .sign(key.privateKey);
  } catch (error) {
    throw new SessionError('invalid_options', 'The DPoP proof could not be signed with this key', { cause: error });
  }
}

/**
 * `htu`: the URL without query and fragment (RFC 9449 §4.2), nor `user:password@`; http(s) only. A relative URL is
 * resolved against the page, where there is one, as fetch resolves it.
 */
export function targetUri(url: unknown): string {
  const href = (globalThis as { location?: { href?: unknown } }).location?.href;
  const base = typeof href === 'string' ? href : undefined;
  const parsed = url instanceof URL ? url : typeof url === 'string' && URL.canParse(url, base) ? new URL(url, base) : undefined;
  if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new SessionError('invalid_options', 'A DPoP proof needs an absolute http(s) URL');
  }
  return `${parsed.origin}${parsed.pathname}`;
}
