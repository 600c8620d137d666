import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

/** Why a request to a DPoP-protected API was refused (or `ok`). */
export type DPoPCheck =
  | 'ok'
  | 'no-dpop-scheme'
  | 'no-proof'
  | 'bad-proof'
  | 'htm'
  | 'htu'
  | 'iat'
  | 'ath'
  | 'replayed'
  | 'unknown-token'
  | 'not-bound'
  | 'wrong-key';

/** How far a proof's `iat` may be from now (s), as oidc-provider's own window. */
const IAT_WINDOW = 60;

/**
 * A resource server's DPoP check (RFC 9449 §7, §4.3), strict, with jose: `Authorization: DPoP <token>`, exactly one
 * `DPoP` header holding an ES256 `dpop+jwt` signed by its embedded public key, `htm` and `htu` (without query and
 * fragment) of this request, `iat` within ±60 s, a `jti` never seen before, `ath` = SHA-256 of the token, and the
 * token bound (`cnf.jkt`, oidc-provider's `jkt`) to that very key. `find` looks the token up at the provider.
 */
export function createDPoPValidator() {
  const seen = new Set<string>();
  return {
    seen,
    async check(
      req: IncomingMessage,
      htu: string,
      find: (token: string) => Promise<{ isExpired: boolean; jkt?: string } | undefined>,
    ): Promise<DPoPCheck> {
      const authorization = req.headers.authorization ?? '';
      if (!authorization.startsWith('DPoP ')) return 'no-dpop-scheme';
      const token = authorization.slice(5);
      const proofs = req.headersDistinct['dpop'] ?? [];
      if (proofs.length !== 1) return 'no-proof';
      let payload: Record<string, unknown>;
      let jkt: string;
      try {
        const verified = await jwtVerify(proofs[0]!, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
        payload = verified.payload;
        jkt = await calculateJwkThumbprint(verified.protectedHeader.jwk!);
      } catch {
        return 'bad-proof';
      }
      if (payload.htm !== req.method) return 'htm';
      const url = new URL(htu);
      url.search = '';
      url.hash = '';
      if (payload.htu !== url.href) return 'htu';
      if (typeof payload.iat !== 'number' || Math.abs(Date.now() / 1000 - payload.iat) > IAT_WINDOW) return 'iat';
      if (payload.ath !== createHash('sha256').update(token).digest('base64url')) return 'ath';
      if (typeof payload.jti !== 'string' || payload.jti.length < 16) return 'bad-proof';
      if (seen.has(payload.jti)) return 'replayed';
      seen.add(payload.jti);
      const found = await find(token);
      if (found === undefined || found.isExpired) return 'unknown-token';
      if (found.jkt === undefined) return 'not-bound';
      return found.jkt === jkt ? 'ok' : 'wrong-key';
    },
  };
}
