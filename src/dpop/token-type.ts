import { SessionError } from '../core/errors.js';
import type { TokenSet } from '../core/token.js';

/**
 * The token set a session with `dpop` holds, whatever its provider (one that gets its token elsewhere, `customProvider`
 * or `staticToken`, ignores the proof): DPoP tokens, or Bearer ones where the app allows the downgrade (RFC 9449 §5).
 * Token types are case-insensitive (RFC 6749 §5.1): `dpop` is the DPoP type, spelt as the proofs' code expects. Here,
 * in the code only `dpop` sessions load, rather than in `withDPoP`, so that no core bundle grows.
 */
export function dpopTokenSet(set: TokenSet, allowBearer: boolean): TokenSet {
  const { tokenType } = set.token;
  if (/^dpop$/i.test(tokenType)) return tokenType === 'DPoP' ? set : { ...set, token: { ...set.token, tokenType: 'DPoP' } };
  const bearer = /^bearer$/i.test(tokenType);
  if (bearer && allowBearer) return set;
  throw new SessionError('invalid_response', `The session has dpop, and its provider gave a ${bearer ? 'Bearer' : 'non-DPoP'} token: refused (dpop.allowBearer allows Bearer)`);
}
