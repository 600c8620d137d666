import type { DPoPAttempt, DPoPResourceAnswer, SessionDPoP } from '../core/dpop.js';
import { SessionError } from '../core/errors.js';
import type { NonceProbes } from './nonce-probe.js';

/**
 * Redirects followed with the token before giving up: an API moved once or twice (`/v1` → `/v2`, a trailing slash),
 * not a chain. fetch allows 20; each of ours costs a signature, and a loop between two URLs is a fault either way.
 */
const MAX_REDIRECTS = 5;
/** The statuses fetch follows (Fetch Standard, "redirect status"); any other 3xx is an answer. */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Dropped when a redirect turns the request into a GET (Fetch Standard, "request-body-header name"). */
const BODY_HEADERS = ['content-encoding', 'content-language', 'content-location', 'content-type'];
/** Never carried to a URL the token does not go to (fetch drops `authorization`, undici the others; `dpop` is ours). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'dpop', 'proxy-authorization'];

/**
 * `SessionDPoP.fetchResource`, for every DPoP of the package (the servers' and the browser's): a proof is for one
 * request (RFC 9449 §4.2: its `jti` once, its `htu` that request's URL), so a redirect fetch follows with the same
 * headers presents it twice, at a URL it does not name — a strict API refuses it, and another origin receives it.
 * Each attempt is sent with `redirect: 'manual'` instead:
 * - where the redirect is readable (Node, Deno, workerd), a redirect within the origin the request was sent to is
 *   followed with a new proof for the new URL, as fetch would (method and body kept for 307/308, a GET after a
 *   303, or after a 301/302 of a POST), up to 5 of them; one to another origin is followed without the token, a
 *   proof or cookies, as fetch drops `Authorization` (the answer is then not about our token);
 * - a browser hides the redirect (an `opaqueredirect` response, no `Location`): nothing can be signed for it, so it
 *   fails with `request_failed` and costs no token request.
 * A request that asks for `redirect: 'manual'` or `'error'` itself gets what fetch gives it.
 *
 * With `probes`, the first call to an API whose nonce is not known waits (bounded) while another call probes it,
 * and then signs with the nonce that probe kept (`nonce-probe.ts`).
 */
export async function fetchResource(
  dpop: Pick<SessionDPoP, 'proof' | 'received'>,
  request: Request,
  accessToken: string,
  attempt: DPoPAttempt,
  probes?: NonceProbes,
): Promise<DPoPResourceAnswer> {
  const origin = new URL(request.url).origin;
  // Before the first proof, which is to carry the nonce the probe finds; the redirects it follows stay on its origin.
  const probed = probes === undefined ? undefined : await probes.before(origin, request.signal);
  try {
    return await sendFollowing(dpop, request, accessToken, attempt, origin, probed);
  } finally {
    probed?.();
  }
}

/** `fetchResource` once the call may leave; `probed` (when it probes) is called as soon as its first answer was read. */
async function sendFollowing(
  dpop: Pick<SessionDPoP, 'proof' | 'received'>,
  request: Request,
  accessToken: string,
  attempt: DPoPAttempt,
  origin: string,
  probed: (() => void) | undefined,
): Promise<DPoPResourceAnswer> {
  const follows = request.redirect === 'follow';
  let hop = request;
  for (let redirects = 0; ; redirects++) {
    let response: Response;
    for (let answered = false; ; answered = true) {
      const proof = await dpop.proof({ method: hop.method, url: hop.url, accessToken });
      // A copy per attempt, so that the body is still there for a retry or a 307.
      const copy = hop.body === null ? hop : hop.clone();
      response = await attempt(follows ? new Request(copy, { redirect: 'manual' }) : copy, proof);
      const again = await dpop.received(hop.url, response).catch(() => false);
      // The answer's nonce is kept: the calls waiting for this probe may leave, beside its own retry.
      probed?.();
      if (!again) break;
      // A nonce challenge or a refused proof is answered once with a new proof; a second one is the API's answer.
      if (answered) return { response, retry: undefined };
      void response.body?.cancel().catch(() => undefined);
    }
    if (!follows) return { response, retry: hop };
    if (response.type === 'opaqueredirect') {
      throw new SessionError(
        'request_failed',
        'The API redirected a DPoP request, and the browser does not tell where to: a proof names one URL, so the redirect is not followed (request the URL it leads to)',
      );
    }
    const location = REDIRECT_STATUSES.has(response.status) ? response.headers.get('location') : null;
    if (location === null) return { response, retry: hop };
    void response.body?.cancel().catch(() => undefined);
    const { status } = response;
    const target = URL.parse(location, hop.url);
    if (target === null || !/^https?:$/.test(target.protocol)) {
      throw new SessionError('invalid_response', 'The API redirected a DPoP request to no http(s) URL', { status });
    }
    if (redirects === MAX_REDIRECTS) {
      throw new SessionError('request_failed', `The API redirected a DPoP request more than ${MAX_REDIRECTS} times`, { status });
    }
    const leaves = target.origin !== origin;
    hop = await redirected(hop, status, target, leaves);
    // Out of the origin the token was sent to: fetch follows the rest, with nothing of ours.
    if (leaves) return { response: await attempt(hop), retry: undefined };
  }
}

/** The request a redirect leads to, as fetch makes it (Fetch Standard, "HTTP-redirect fetch"). */
async function redirected(request: Request, status: number, url: URL, leaves: boolean): Promise<Request> {
  const get =
    ((status === 301 || status === 302) && request.method === 'POST') || (status === 303 && request.method !== 'GET' && request.method !== 'HEAD');
  const headers = new Headers(request.headers);
  for (const name of [...(get ? BODY_HEADERS : []), ...(leaves ? CREDENTIAL_HEADERS : [])]) headers.delete(name);
  // Read once and kept in memory: the body may be sent again (a nonce retry, a new token, the next redirect). A Blob,
  // not an ArrayBuffer: undici detaches an ArrayBuffer body once sent, and then fails to follow a redirect with it.
  const body = get || request.body === null ? null : await request.blob();
  return new Request(url, { method: get ? 'GET' : request.method, headers, body, signal: request.signal, redirect: request.redirect });
}
