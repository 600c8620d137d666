import type { FetchTokenContext } from '../providers/provider.js';
import type { TokenSet } from './token.js';

/**
 * DPoP (RFC 9449) as the session, the providers and the HTTP helpers see it: a contract only. The implementation
 * (keys, proofs, nonces) is in `src/dpop/`, which only sessions created with `dpop` load.
 */

/** What a proof is made for. */
export interface DPoPRequest {
  /** The HTTP method, as fetch sends it. */
  readonly method: string;
  /** The request's URL (the proof carries it without query and fragment). */
  readonly url: string | URL;
  /** The access token the request carries (resource requests), bound by its hash (`ath`). None for token requests. */
  readonly accessToken?: string | undefined;
}

/** The DPoP of one session: its key, its nonces, and whether a downgrade to Bearer is allowed. */
export interface SessionDPoP {
  /** A `Bearer` answer to a DPoP token request is accepted (an explicit downgrade). Default false: refused. */
  readonly allowBearer: boolean;
  /** The key's RFC 7638 thumbprint (`cnf.jkt`, `dpop_jkt`). */
  jkt(): Promise<string>;
  /** A fresh proof for one attempt (a new `jti` each call), with the latest nonce of the URL's server. */
  proof(request: DPoPRequest): Promise<string>;
  /**
   * Reads a response to a request to `url`: keeps its `DPoP-Nonce` as the server's latest, and says whether the
   * request should be sent once more with a new proof: a nonce challenge (`use_dpop_nonce`), or an API's refusal of
   * the proof (`invalid_dpop_proof`, which a new token cannot fix).
   */
  received(url: string | URL, response: Response, oauthError?: string | undefined): Promise<boolean>;
  /**
   * Sends a resource request with a DPoP-bound `accessToken` (`fetchWithToken`'s DPoP path): each attempt through
   * `attempt` with a new proof; a nonce challenge or a refused proof answered once with a new proof. Redirects are
   * not left to fetch, which would present the one proof at the new URL too: where the runtime shows `Location`, a
   * redirect within the request's origin is followed with a new proof (5 at most); one to another origin is followed
   * without the token or a proof; where it does not (a browser), a redirect fails with `request_failed`.
   */
  fetchResource(request: Request, accessToken: string, attempt: DPoPAttempt): Promise<DPoPResourceAnswer>;
  /**
   * Sends a token request with DPoP (`requestToken` hands it over, so that only sessions with `dpop` load this code):
   * a fresh proof per attempt, every `DPoP-Nonce` kept, a `use_dpop_nonce` challenge answered once, and the answer
   * must be a DPoP token. `answered` is called when a 2xx answer arrives, before it is read.
   */
  requestToken(
    url: string,
    init: RequestInit,
    context: FetchTokenContext,
    settings: TokenRequestSettings,
    answered: (() => void) | undefined,
  ): Promise<TokenSet>;
}

/**
 * Sends one attempt of a resource request. With a `proof`: the request with the token and that proof, and redirects
 * not followed by fetch (`redirect: 'manual'`, unless the request asks for `error` or `manual` itself). Without one:
 * the request as it is, with no token (a redirect that leaves what the app named).
 */
export type DPoPAttempt = (request: Request, proof?: string) => Promise<Response>;

/** What `SessionDPoP.fetchResource` answers. */
export interface DPoPResourceAnswer {
  readonly response: Response;
  /**
   * The request `response` answers (the last of the redirects followed with the token), to send again with a new
   * token if `response` is a 401 for the token; `undefined` when the answer says nothing about the token (it came
   * from a URL the token was not sent to, or it is a second nonce challenge or proof refusal).
   */
  readonly retry: Request | undefined;
}

/** How a token request is tried (`TokenRequestOptions` with every default filled). */
export interface TokenRequestSettings {
  readonly attempts: number;
  readonly backoff: number;
  readonly maxDelay: number;
  readonly timeout: number;
  readonly defaultExpiresIn: number;
}

/** The JWS algorithms a DPoP key signs proofs with. ES256 (P-256) is the default. */
export type DPoPAlgorithm = 'ES256' | 'ES384' | 'PS256' | 'RS256' | 'EdDSA';

/**
 * A DPoP key (RFC 9449): a `CryptoKeyPair` whose private key is **non-extractable** (no script can read it out, only
 * sign with it), with what every proof needs: its algorithm, its public JWK (public members only) and the key's
 * RFC 7638 thumbprint `jkt`, which the server binds the tokens to (`cnf.jkt`). Made by `generateDPoPKey`,
 * `importDPoPKey` or `dpopKeyFromPair` (`shared-session/dpop`).
 */
export interface DPoPKey extends CryptoKeyPair {
  readonly alg: DPoPAlgorithm;
  /** The public key as a JWK, with its public members only (`kty`, `crv`, `x`, `y` / `n`, `e`). */
  readonly publicJwk: Readonly<JsonWebKey>;
  /** The RFC 7638 SHA-256 thumbprint of the public key, base64url: what `cnf.jkt` and `dpop_jkt` carry. */
  readonly jkt: string;
}

/** The `dpop` option of `createSession`, as an object. */
export interface DPoPOptions {
  /**
   * The key proofs are signed with: a `DPoPKey`, a private JWK or a PKCS#8 PEM (imported non-extractable on first
   * use). Default: one key generated for this process (or isolate) on first use. Servers that share tokens (a Redis
   * fleet, a Durable Object chain) must give every member the same key: a token bound to one process's generated key
   * is refused with another's, so sessions with different keys never share a token.
   */
  readonly key?: DPoPKey | JsonWebKey | string | undefined;
  /**
   * Accept a `Bearer` token when the token endpoint answers a DPoP request with one (a server that ignores DPoP).
   * Default false: such an answer is refused with `invalid_response`, since the app asked for bound tokens.
   */
  readonly allowBearer?: boolean | undefined;
}
