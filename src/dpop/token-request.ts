import type { SessionDPoP, TokenRequestSettings } from '../core/dpop.js';
import type { TokenSet } from '../core/token.js';
import type { FetchTokenContext } from '../providers/provider.js';
import { SessionError } from '../core/errors.js';
import { oauthFailure, parseTokenResponse, sendWithRetries } from '../providers/token-request.js';

/**
 * `requestToken` with DPoP (RFC 9449 §5, §8): each attempt carries a fresh proof, every answer's `DPoP-Nonce` and
 * `Date` are kept, a `use_dpop_nonce` challenge is answered once with a new proof, and so is an `invalid_dpop_proof`
 * refusal whose `Date` shows that our clock dated the proof wrong (the proof is checked before the grant, so the
 * refused request spent nothing, a refresh token included); the answer must be a DPoP token.
 */
export async function requestDPoPToken(
  url: string,
  init: RequestInit,
  context: FetchTokenContext,
  settings: TokenRequestSettings,
  dpop: SessionDPoP,
  answered: (() => void) | undefined,
): Promise<TokenSet> {
  const prepare = async (base: RequestInit): Promise<RequestInit> => {
    const headers = new Headers(base.headers);
    headers.set('dpop', await dpop.proof({ method: 'POST', url }));
    return { ...base, headers };
  };
  /** Whether the last answer dated the next proof differently (a 400 whose `Date` corrected our clock). */
  let redated = false;
  const noting: FetchTokenContext = {
    ...context,
    fetch: async (input, requestInit) => {
      const response = await context.fetch(input, requestInit);
      // A nonce store that fails costs at most a challenge later; the answer itself is still read.
      redated = await dpop.received(url, response).catch(() => false);
      return response;
    },
  };
  for (let challenged = false; ; challenged = true) {
    let challenge = false;
    try {
      return await sendWithRetries('The token endpoint', url, init, noting, settings, (response, text, sentAt) => {
        if (response.ok) {
          answered?.();
          return withTokenType(parseTokenResponse(text, sentAt, settings.defaultExpiresIn, response.status), dpop);
        }
        const failure = oauthFailure(text, response.status);
        challenge =
          !challenged &&
          response.status === 400 &&
          (failure.oauthError === 'use_dpop_nonce' || (failure.oauthError === 'invalid_dpop_proof' && redated));
        throw failure;
      }, prepare);
    } catch (error) {
      if (!challenge) throw error;
    }
  }
}


/**
 * The token type rule of DPoP (RFC 9449 §5): a request with a proof must get a `DPoP` token, a `Bearer` one only
 * when the app allows the downgrade (`dpop.allowBearer`). Exported for the sign-in, which reads token answers with
 * oauth4webapi.
 */
export function withTokenType(set: TokenSet, dpop: SessionDPoP): TokenSet {
  const { tokenType } = set.token;
  if (tokenType === 'DPoP' || (tokenType === 'Bearer' && dpop.allowBearer)) return set;
  throw new SessionError(
    'invalid_response',
    tokenType === 'Bearer'
      ? 'The token endpoint answered a DPoP request with a Bearer token: refused (dpop.allowBearer allows the downgrade)'
      : 'The token endpoint answered a DPoP request with a token that is not DPoP-bound',
  );
}
