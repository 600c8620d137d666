import * as oauth from 'oauth4webapi';
import { SessionError } from '../core/errors.js';
import { createSignInKey, deleteCurrentKey, deleteSignInKey, readCurrentKey, saveCurrentKey, takeSignInKey, type BrowserDPoPKey } from '../dpop/browser-key.js';
import { readNonce, saveNonce } from '../dpop/browser-nonces.js';
import { httpMethod } from '../dpop/method.js';
import { authorizationServerNonceKey, isProofRefusal, isResourceNonceChallenge, isTokenEndpointNonceChallenge, nonceOf, nonceOrigin } from '../dpop/nonces.js';
import { fetchResource } from '../dpop/resource-request.js';
import { nonceProbes } from '../dpop/nonce-probe.js';
import type { SessionDPoP } from '../core/dpop.js';

/**
 * DPoP (RFC 9449) for `oidcSession({ dpop: true })`, loaded only by sessions that ask for it (a dynamic import): the
 * one key of the origin (IndexedDB, see `dpop/browser-key.ts`), proofs by oauth4webapi's `DPoP` handle, and the
 * servers' latest nonces shared by every context.
 */

/** Signs requests with one key. */
export interface DPoPSigner {
  readonly jkt: string;
  /**
   * Runs `send` (one request of oauth4webapi) with a DPoP handle that knows the latest nonce of `url`'s server, keeps
   * the nonce the server answers with for every context, and answers a `use_dpop_nonce` challenge once (a new proof,
   * with the nonce): the retry is the only repeat, and a challenge spends nothing (the server refused the proof first).
   */
  send(url: string, send: (DPoP: oauth.DPoPHandle) => Promise<Response>): Promise<Response>;
  /**
   * `send` as above, for a request of the provider that oauth4webapi signs none for (revocation): `send` is given a
   * proof (`POST`, the provider's latest nonce) for each attempt, and a `use_dpop_nonce` challenge is answered once.
   */
  sendWithProof(url: string, send: (proof: string) => Promise<Response>): Promise<Response>;
  /** A proof for a request to a resource: `htm`, `htu`, `ath` of `accessToken`, the server's latest nonce. */
  proof(method: string, url: string, accessToken?: string): Promise<string>;
}

/** oauth4webapi's handle does this for its own requests; a resource request's proof is asked of it directly. */
interface ProofMaker {
  addProof(url: URL, headers: Headers, htm: string, accessToken?: string): Promise<void>;
}

/** Whether `response` is a `use_dpop_nonce` challenge: a token endpoint's 400 body, or a resource's `WWW-Authenticate`. */
async function isNonceChallenge(response: Response): Promise<boolean> {
  if (response.status === 401) return /error\s*=\s*"?use_dpop_nonce/i.test(response.headers.get('www-authenticate') ?? '');
  if (response.status !== 400) return false;
  const body = (await response.clone().json().catch(() => undefined)) as { error?: unknown } | undefined;
  return body?.error === 'use_dpop_nonce';
}

function signerOf(key: BrowserDPoPKey): DPoPSigner {
  // The nonce of the server of the request under way: read from the shared store before it, replaced by the one a
  // challenge brings. oauth4webapi's `modifyAssertion` puts it in the proof it signs.
  let nonce: string | undefined;
  const handle = oauth.DPoP({}, { privateKey: key.privateKey, publicKey: key.publicKey }, {
    [oauth.modifyAssertion]: (_header, payload) => {
      payload.nonce = nonce;
    },
  });
  const prime = async (server: string): Promise<void> => {
    nonce = await readNonce(server).catch(() => undefined);
  };
  /** Keeps the nonce of an answer for the next proof and every context (when it brought one). */
  const keep = async (response: Response, server: string): Promise<void> => {
    const answered = nonceOf(response);
    if (!answered || answered === nonce) return;
    nonce = answered;
    await saveNonce(server, answered).catch(() => undefined);
  };
  return {
    jkt: key.jkt,
    async send(target, send) {
      const server = authorizationServerNonceKey(target);
      await prime(server);
      let response = await send(handle);
      await keep(response, server);
      if (nonceOf(response) !== undefined && (await isNonceChallenge(response))) {
        response = await send(handle);
        await keep(response, server);
      }
      return response;
    },
    async sendWithProof(target, send) {
      const url = new URL(target);
      const server = authorizationServerNonceKey(url);
      const attempt = async (): Promise<Response> => {
        const headers = new Headers();
        await (handle as unknown as ProofMaker).addProof(url, headers, 'POST');
        const response = await send(headers.get('dpop')!);
        await keep(response, server);
        return response;
      };
      await prime(server);
      const response = await attempt();
      return nonceOf(response) !== undefined && (await isNonceChallenge(response)) ? attempt() : response;
    },
    async proof(method, target, accessToken) {
      const htm = httpMethod(method);
      if (accessToken !== undefined && (typeof accessToken !== 'string' || accessToken === '')) {
        throw new SessionError('invalid_options', 'accessToken must be a non-empty string');
      }
      // A relative URL is resolved against the page (or worker), as fetch resolves it and the servers' proofs do.
      const url = URL.parse(target, (globalThis as { location?: { href?: string } }).location?.href);
      if (url === null || !/^https?:$/.test(url.protocol)) throw new SessionError('invalid_options', 'A DPoP proof needs an absolute http: or https: URL');
      await prime(url.origin);
      const headers = new Headers();
      await (handle as unknown as ProofMaker).addProof(url, headers, htm, accessToken);
      return headers.get('dpop')!;
    },
  };
}

/** A request's URL as given (a string or a `URL`): anything else is not stringified into some URL of the page. */
function urlOf(url: unknown): string {
  if (typeof url === 'string' || url instanceof URL) return String(url);
  throw new SessionError('invalid_options', 'A DPoP proof needs an absolute http: or https: URL');
}

/** The key a sign-in binds its code to (`dpop_jkt`): a new one for each sign-in, kept with its `state`. */
export function signInKey(state: string): Promise<string> {
  return createSignInKey(state, Date.now());
}

/**
 * The signer of the sign-in with `state` (its key taken from storage, once), and `keep`: makes its key the
 * credential's key, after the code exchange and before the token is shared.
 */
export async function signInSigner(state: string | undefined, credential: string): Promise<DPoPSigner & { keep(signedInAt: number): Promise<void> }> {
  const key = state === undefined ? undefined : await takeSignInKey(state);
  if (key === undefined) throw new SessionError('invalid_state', 'The DPoP key of this sign-in is gone (another browser profile, or storage cleared): sign in again');
  // Dated as the sign-in's record of who signed in (`signedInAt`): a dead refresh token deletes that sign-in's key only.
  return { ...signerOf(key), keep: (signedInAt) => saveCurrentKey(credential, key, signedInAt) };
}

/** The sign-in at `signedInAt` ended (a dead refresh token too: `invalid_grant`): its key goes with it, as at sign-out. */
export function forgetSignInKey(credential: string, signedInAt: number): Promise<void> {
  return deleteSignInKey(credential, signedInAt).catch(() => undefined);
}

/** The signer of the credential's current key, if there is one. */
export async function currentSigner(credential: string): Promise<DPoPSigner | undefined> {
  const key = await readCurrentKey(credential);
  return key === undefined ? undefined : signerOf(key);
}

/**
 * The signer of a refresh: the refresh token is bound to the credential's key, so without it the token can never be
 * used again (`invalid_grant` signs every context out); storage that does not answer is not that (`unsupported_context`).
 */
export async function refreshSigner(credential: string): Promise<DPoPSigner> {
  const signer = await currentSigner(credential);
  if (signer === undefined) throw new SessionError('invalid_grant', 'The DPoP key of this sign-in is gone (storage cleared): signed out');
  return signer;
}

/**
 * Before a sign-out (of a session with `dpop`): the key's signer (the revocation needs it), and `forget`, which
 * deletes the key afterwards if it is still that one (never the key of a sign-in completed meanwhile elsewhere).
 */
export async function signOutKey(dpop: boolean, credential: string): Promise<{ signer?: DPoPSigner; forget(): Promise<void> }> {
  const signer = dpop ? await currentSigner(credential).catch(() => undefined) : undefined;
  if (signer === undefined) return { forget: () => Promise.resolve() };
  return { signer, forget: () => deleteCurrentKey(credential, signer.jkt).catch(() => undefined) };
}

/**
 * The first calls of this context to each API, coordinated with every other context of the origin by a Web Lock per
 * server: the nonces are kept per server for the whole origin (IndexedDB), so one probe per server serves every
 * credential's sessions, and the lock names only the server (an origin, which is no secret).
 */
const probes = nonceProbes({
  known: async (server) => (await readNonce(server)) !== undefined,
  lockName: (server) => `shared-session-dpop-nonce-probe ${server}`,
});

/**
 * The `SessionDPoP` of an `oidcSession` with `dpop` (what `createClient`, `fetchWithToken` and the service worker
 * sign with): the credential's current key, the nonces every context shares. Its token requests are the sign-in's
 * own (oauth4webapi), so `requestToken` is never called.
 */
export function browserSessionDPoP(credential: string): SessionDPoP {
  const signer = async (): Promise<DPoPSigner> => {
    const found = await currentSigner(credential);
    if (found === undefined) throw new SessionError('login_required', 'Not signed in: no DPoP key');
    return found;
  };
  const dpop: SessionDPoP = {
    allowBearer: false,
    jkt: async () => (await signer()).jkt,
    proof: async ({ method, url, accessToken }) => (await signer()).proof(method, urlOf(url), accessToken),
    async received(url, response, oauthError) {
      const nonce = nonceOf(response);
      // A refused proof is sent once more with a new one, never answered with a new token (which cannot fix it).
      if (nonce === undefined) return isProofRefusal(response);
      await saveNonce(nonceOrigin(url), nonce).catch(() => undefined);
      return isTokenEndpointNonceChallenge(response, oauthError) || isResourceNonceChallenge(response) || isProofRefusal(response);
    },
    fetchResource: (request, accessToken, attempt) => fetchResource(dpop, request, accessToken, attempt, probes),
    requestToken: () => Promise.reject(new SessionError('invalid_options', 'The sign-in sends its own token requests')),
  };
  return dpop;
}

/** `session.dpopProof`: a proof of the credential's key for a request carrying `accessToken` (default: the session's now). */
export async function sessionProof(
  dpop: boolean,
  credential: string,
  request: { readonly method: string; readonly url: string | URL; readonly accessToken?: string | undefined },
  token: () => Promise<{ accessToken: string }>,
): Promise<string> {
  if (!dpop) throw new SessionError('invalid_options', 'dpopProof needs a session created with dpop: true');
  if (typeof request !== 'object' || request === null) throw new SessionError('invalid_options', 'dpopProof needs a request: { method, url }');
  const accessToken = request.accessToken ?? (await token()).accessToken;
  const signer = await currentSigner(credential);
  if (signer === undefined) throw new SessionError('login_required', 'Not signed in: no DPoP key');
  return signer.proof(request.method, urlOf(request.url), accessToken);
}
