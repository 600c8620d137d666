import * as oauth from 'oauth4webapi';
import type { SessionError } from '../core/errors.js';
import type { DPoPSigner } from './dpop.js';
import { DEFAULT_TIMEOUT, discover, requestOptions, withoutSecrets, withTimeout, type Endpoint } from './protocol.js';

/**
 * Tells the provider of a sign-out: revokes `refreshToken` where it offers revocation (RFC 7009), within the
 * endpoint's `timeout`. Resolves the provider's metadata (for the end-session URL); rejects with why the provider
 * was not told (the sign-out holds all the same).
 */
export async function revokeRefreshToken(
  endpoint: Endpoint,
  clientId: string,
  refreshToken: string | undefined,
  signer?: DPoPSigner | undefined,
): Promise<oauth.AuthorizationServer> {
  const as = await discover(endpoint);
  if (refreshToken === undefined || as.revocation_endpoint === undefined) return as;
  const label = 'The revocation endpoint';
  await withTimeout(label, endpoint.timeout ?? DEFAULT_TIMEOUT, endpoint.signal, async (signal) => {
    // A DPoP-bound refresh token is revoked with a proof of its key (oauth4webapi signs none for revocation: asked of
    // the signer, as for a resource). Providers that do not ask for it ignore the header.
    // Its nonce challenge is answered once, as the token endpoint's (the provider's nonce, not an API's).
    const revoke = (dpop?: string): Promise<Response> =>
      oauth.revocationRequest(as, { client_id: clientId }, oauth.None(), refreshToken, {
        ...requestOptions({ ...endpoint, signal }),
        ...(dpop && { headers: { dpop } }),
        additionalParameters: { token_type_hint: 'refresh_token' },
      });
    const response = await (signer ? signer.sendWithProof(as.revocation_endpoint!, revoke) : revoke());
    await oauth.processRevocationResponse(response);
  }).catch((error: SessionError) => {
    throw withoutSecrets(error, [refreshToken]);
  });
  return as;
}

/**
 * The provider's end-session URL (RP-initiated logout) with `id_token_hint`, `client_id` and
 * `post_logout_redirect_uri`, or undefined when it has none. Its scheme was checked with the metadata (`https:`).
 */
export function endSessionUrl(
  as: oauth.AuthorizationServer,
  clientId: string,
  idToken: string | undefined,
  postLogoutRedirectUri: string | undefined,
): URL | undefined {
  if (as.end_session_endpoint === undefined) return undefined;
  const url = new URL(as.end_session_endpoint);
  if (idToken !== undefined) url.searchParams.set('id_token_hint', idToken);
  url.searchParams.set('client_id', clientId);
  if (postLogoutRedirectUri !== undefined) url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
  return url;
}
