import { SessionError } from '../core/errors.js';
import type { SessionDPoP } from '../core/dpop.js';
import type { Session } from '../core/session.js';
import type { Token } from '../core/token.js';

/** The `Authorization` header value for a token: `<tokenType> <accessToken>`. */
export function authorizationHeader(token: Token): string {
  return `${token.tokenType} ${token.accessToken}`;
}

/**
 * The 401 rule. The first 401 a request gets reports the token it carried as rejected and waits for the replacement:
 * the session drops that exact token in every context and refreshes once, however many requests saw it. The caller
 * then retries once. A 401 on that retry is final: `SessionError` `token_rejected`, carrying the response (no loop).
 */
async function afterUnauthorized(
  session: Session,
  attempt: { readonly presented: string | undefined; readonly retried: boolean; readonly signal?: AbortSignal | undefined },
  response?: Response,
): Promise<void> {
  if (attempt.retried) {
    throw new SessionError('token_rejected', 'The API rejected a fresh token (401)', { status: 401, response });
  }
  await session.getToken({ rejected: attempt.presented, signal: attempt.signal });
}

/** What `fetchWithToken` takes besides the request. */
export interface FetchWithTokenOptions {
  /** Sends the request (with its `Authorization` header). Default `globalThis.fetch`. */
  readonly fetch?: ((request: Request, init?: RequestInit) => Promise<Response>) | undefined;
  /**
   * The `Authorization` header value for a token, for APIs with their own bearer format (openEO's
   * `Bearer oidc/<provider>/<token>`). Default `<tokenType> <accessToken>`. A 401 still reports the token itself.
   */
  readonly authorization?: ((token: Token) => string | Promise<string>) | undefined;
}

/**
 * Sends `request` with the session's token and the 401 refresh-once rule (the one implementation of it, used by
 * `createClient`, the service worker and the map helpers): a 401 makes the session replace that token
 * (one refresh for everyone) and the request is sent once more; a second 401 rejects with `SessionError`
 * `token_rejected` whose `response` is the API's answer. The request's own `signal` aborts the token wait too.
 *
 * A `no-cors` request (an `<img>` without `crossorigin`) is sent in `cors` mode without cross-origin cookies, since a
 * browser drops the `Authorization` header of a `no-cors` request; an API on another origin must then answer CORS
 * requests (`Access-Control-Allow-Origin` and `-Headers: authorization`), as token-protected APIs do.
 */
export async function fetchWithToken(session: Session, request: Request, options: FetchWithTokenOptions = {}): Promise<Response> {
  const send = options.fetch ?? ((input: Request, init?: RequestInit) => globalThis.fetch(input, init));
  const header = options.authorization ?? authorizationHeader;
  for (let retried = false; ; ) {
    const token = await session.getToken({ signal: request.signal });
    const value = await header(token);
    let response: Response;
    // Case-insensitive (RFC 6749 §5.1): a `dpop` token from a provider of the app's own is never sent without a proof.
    if (/^dpop$/i.test(token.tokenType)) {
      // A proof per attempt and per redirect (RFC 9449 §4.2), by the DPoP code, which only sessions with `dpop` load.
      const answer = await dpopOf(session).fetchResource(request, token.accessToken, (attempt, proof) =>
        proof === undefined ? send(attempt) : send(...withAuthorization(attempt, value, proof)),
      );
      // An answer from where the token was not sent, or a second nonce challenge: not the 401 rule's business.
      if (answer.retry === undefined) return answer.response;
      response = answer.response;
      request = answer.retry;
    } else {
      // Every attempt but the last possible one sends a copy, so that the body is still there for a retry.
      response = await send(...withAuthorization(retried || request.body === null ? request : request.clone(), value));
    }
    if (response.status !== 401) return response;
    if (!retried) void response.body?.cancel().catch(() => undefined);
    await afterUnauthorized(session, { presented: token.accessToken, retried, signal: request.signal }, response);
    retried = true;
  }
}

/** The session's DPoP for a DPoP-bound token: such a token is never sent without a proof. */
function dpopOf(session: Session): SessionDPoP {
  const { dpop } = session;
  if (dpop === undefined) {
    throw new SessionError('invalid_options', 'The token is DPoP-bound, but this session has no DPoP key to sign proofs with');
  }
  return dpop;
}

/** The request and the init that add the headers: fetch builds one Request from both, so we build none. */
function withAuthorization(request: Request, value: string, proof?: string): [Request, RequestInit] {
  const headers = new Headers(request.headers);
  try {
    headers.set('authorization', value);
    if (proof !== undefined) headers.set('dpop', proof);
  } catch {
    // Every token is validated where it enters; this guards the header anyway, without the TypeError that quotes it.
    throw new SessionError('invalid_response', 'The token cannot be sent in an Authorization header');
  }
  // The token is the credential: cookies would make a cross-origin API's `Access-Control-Allow-Origin: *` invalid.
  return [request, request.mode === 'no-cors' ? { headers, mode: 'cors', credentials: 'same-origin' } : { headers }];
}
