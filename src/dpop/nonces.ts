import { targetUri } from './proof.js';

/**
 * Where the latest `DPoP-Nonce` of each server is kept (RFC 9449 §8, §9), keyed by server: an API by its origin, the
 * provider's token endpoint by `<origin> authorization-server` (an origin may serve both, each with its own nonce).
 * Shared by every request of the session, so that one request's challenge does not cost the next one a round trip;
 * the browser backs it with storage every tab sees. Methods may be async.
 */
export interface DPoPNonceStore {
  get(origin: string): string | undefined | Promise<string | undefined>;
  set(origin: string, nonce: string): void | Promise<void>;
}

/** RFC 9449 §8.1: `nonce = 1*NQCHAR`; anything else in the header is ignored rather than signed into a proof. */
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** The servers a context remembers (nonces, clock offsets, probes), newest kept: one that makes up origins cannot grow them. */
const REMEMBERED_SERVERS = 100;

/** Sets `server`'s entry as the newest of `entries`, dropping the oldest past the 100 remembered. */
export function rememberNewest<V>(entries: Map<string, V>, server: string, value: V): void {
  entries.delete(server);
  entries.set(server, value);
  if (entries.size > REMEMBERED_SERVERS) entries.delete(entries.keys().next().value!);
}

/** A nonce store in this context's memory, the newest 100 origins. */
export function memoryNonceStore(): DPoPNonceStore {
  const nonces = new Map<string, string>();
  return {
    get: (origin) => nonces.get(origin),
    set: (origin, nonce) => rememberNewest(nonces, origin, nonce),
  };
}

/** The origin a nonce of `url` is kept under. */
export function nonceOrigin(url: string | URL): string {
  return new URL(targetUri(url)).origin;
}

/**
 * Where the provider's nonces (its token and revocation endpoints, RFC 9449 §8) are kept by the browser's sign-in:
 * apart from the nonces of the APIs (kept by origin, §9), even on one origin — a provider that also serves the API
 * keeps two nonces, and one must not replace the other (each request would then be challenged once more, and a retry
 * could meet the other's nonce again and fail). One key for the provider's origin, so that its revocation's proof
 * carries the nonce its token endpoint gave (the sign-in's signer answers a challenge with that challenge's nonce).
 */
export function authorizationServerNonceKey(url: string | URL): string {
  return `${nonceOrigin(url)} authorization-server`;
}

/**
 * Where the servers' sessions keep the nonce of a token endpoint: by its URL (without query), not its origin. One
 * origin may serve several authorization servers, each with its own nonce (Keycloak's realms, Okta's authorization
 * servers): one's nonce must never go to another, nor replace the other's while its challenge is being answered
 * (the retry then carried the other's nonce, was challenged again, and the token request failed).
 */
export function tokenEndpointNonceKey(url: string | URL): string {
  return `${targetUri(url)} authorization-server`;
}

/** The response's `DPoP-Nonce`, if it has a well-formed one. */
export function nonceOf(response: Response): string | undefined {
  const nonce = response.headers.get('dpop-nonce')?.trim();
  return nonce !== undefined && NONCE.test(nonce) ? nonce : undefined;
}

/**
 * Whether an API's answer asks for a nonce (RFC 9449 §9): a 401 whose `WWW-Authenticate` holds a `DPoP` challenge
 * with `error="use_dpop_nonce"`, and a `DPoP-Nonce` to use.
 */
export function isResourceNonceChallenge(response: Response): boolean {
  if (response.status !== 401 || nonceOf(response) === undefined) return false;
  const header = response.headers.get('www-authenticate');
  return header !== null && challenges(header).some((c) => c.scheme === 'dpop' && c.params.get('error') === 'use_dpop_nonce');
}

/**
 * Whether a token endpoint's answer asks for a nonce (RFC 9449 §8): a 400 with the OAuth error `use_dpop_nonce`
 * and a `DPoP-Nonce` to use.
 */
export function isTokenEndpointNonceChallenge(response: Response, oauthError: string | undefined): boolean {
  return response.status === 400 && oauthError === 'use_dpop_nonce' && nonceOf(response) !== undefined;
}

/**
 * Whether an API refused the proof rather than the token (RFC 9449 §7.1: a 401 whose `DPoP` challenge says
 * `error="invalid_dpop_proof"`: an `iat` out of its window, a `jti` it saw, an `htu` after a redirect): a new proof
 * may pass, a new token cannot help.
 */
export function isProofRefusal(response: Response): boolean {
  const header = response.status === 401 ? response.headers.get('www-authenticate') : null;
  return header !== null && challenges(header).some((c) => c.scheme === 'dpop' && c.params.get('error') === 'invalid_dpop_proof');
}

interface Challenge {
  readonly scheme: string;
  readonly params: Map<string, string>;
}

// RFC 9110 §11.6.1: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ], several per header, comma-separated.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const PARAM = new RegExp(`^\\s*(${TOKEN})\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|(${TOKEN}))\\s*(?:,|$)`);
// One class for the separators before a scheme: `\s*,*\s*` backtracked quadratically on a run of spaces.
const SCHEME = new RegExp(`^[\\s,]*(${TOKEN})(?:\\s+|\\s*(?:,|$))`);

/** The challenges of a `WWW-Authenticate` header, schemes lower-cased, parameter names lower-cased. */
export function challenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let rest = header;
  // Bounded: each round consumes at least one character.
  while (rest.trim() !== '') {
    const scheme = SCHEME.exec(rest);
    if (scheme === null) break;
    rest = rest.slice(scheme[0].length);
    const params = new Map<string, string>();
    for (let param = PARAM.exec(rest); param !== null; param = PARAM.exec(rest)) {
      // A parameter's `=` is what tells it from the next challenge's scheme.
      params.set(param[1]!.toLowerCase(), param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3]!);
      rest = rest.slice(param[0].length);
    }
    out.push({ scheme: scheme[1]!.toLowerCase(), params });
  }
  return out;
}
