import { systemClock, type Clock } from '../core/clock.js';
import type { DPoPRequest, SessionDPoP } from '../core/dpop.js';
import {
  tokenEndpointNonceKey,
  isProofRefusal,
  isResourceNonceChallenge,
  isTokenEndpointNonceChallenge,
  memoryNonceStore,
  nonceOf,
  nonceOrigin,
  type DPoPNonceStore,
} from './nonces.js';
import { createDPoPProof } from './proof.js';
import { nonceProbes, type NonceProbes } from './nonce-probe.js';
import { clockOffsetOf, IGNORED_OFFSET, memoryClockOffsets, type DPoPClockOffsets } from './clock-offsets.js';
import type { DPoPKey } from './key.js';
import { fetchResource } from './resource-request.js';
import { requestDPoPToken } from './token-request.js';

/** What a session's DPoP is made of. */
export interface SessionDPoPSettings {
  /** The key, or the promise of it (generated or imported on first use). */
  readonly key: DPoPKey | Promise<DPoPKey>;
  /** Accept a `Bearer` answer to a DPoP token request. Default false. */
  readonly allowBearer?: boolean | undefined;
  /** Where the servers' nonces are kept. Default: this context's memory. */
  readonly nonces?: DPoPNonceStore | undefined;
  /** How far each server's clock is from `clock`, learnt from its answers. Default: this context's memory. */
  readonly offsets?: DPoPClockOffsets | undefined;
  readonly clock?: Clock | undefined;
}

/**
 * The first calls' probes of each nonce store: the sessions of a context that keep their nonces in one store wait for
 * one probe per API, whichever of them sends it.
 */
const probesOfStore = new WeakMap<DPoPNonceStore, NonceProbes>();

function probesOf(nonces: DPoPNonceStore): NonceProbes {
  let probes = probesOfStore.get(nonces);
  if (probes === undefined) {
    probes = nonceProbes({ known: async (server) => (await nonces.get(server)) !== undefined });
    probesOfStore.set(nonces, probes);
  }
  return probes;
}

/**
 * The DPoP of one session: proofs signed with its key, nonces kept per server, and each proof dated by the clock of
 * the server it is for (`clock-offsets.ts`).
 */
export function sessionDPoP(settings: SessionDPoPSettings): SessionDPoP {
  const { allowBearer = false, nonces = memoryNonceStore(), offsets = memoryClockOffsets(), clock = systemClock } = settings;
  const probes = probesOf(nonces);
  const key = Promise.resolve(settings.key);
  // Observed at once: a key that fails to import is reported by the first proof, not as an unhandled rejection.
  key.catch(() => undefined);
  /**
   * The provider this session's tokens came from. An API not heard from yet gets the offset the provider's answers
   * told: when the provider and our clock disagree, ours is the one more likely off (servers keep theirs
   * synchronised), so the API's first proof is dated right too. Only the provider the session trusts with its
   * credentials stands in for others; an API's own `Date` replaces it for that API alone.
   */
  let provider: string | undefined;
  const offsetFor = (name: string): number => offsets.get(name) ?? (provider === undefined ? undefined : offsets.get(provider)) ?? 0;
  /** Keeps the offset `response` tells of its server; whether it dates that server's proofs differently from now on. */
  const learn = (name: string, response: Response): boolean => {
    const offset = clockOffsetOf(response, clock.now());
    if (offset === undefined) return false;
    const before = offsetFor(name);
    offsets.set(name, offset);
    return Math.abs(offset - before) > IGNORED_OFFSET;
  };
  /** Proofs and answers of the servers `server` names: the APIs by origin, the provider's endpoints apart (§8, §9). */
  const signing = (server: (url: string | URL) => string, tokenEndpoint: boolean): Pick<SessionDPoP, 'proof' | 'received'> => ({
    async proof(request: DPoPRequest) {
      const name = server(request.url);
      const nonce = await nonces.get(name);
      const offset = offsetFor(name);
      return createDPoPProof(await key, { ...request, nonce }, offset === 0 ? clock : { now: () => clock.now() + offset });
    },
    async received(url, response, oauthError) {
      const name = server(url);
      // The token endpoint refuses a proof with a 400 (RFC 9449 §5): worth sending again (once, and only for the error
      // `invalid_dpop_proof`: see token-request.ts) when the refusal's `Date` dated the next proof differently.
      // An API's `Date` is believed only from a refusal (401): a 2xx may come from a cache, dated when its origin made
      // it (RFC 9111 §4; a browser's HTTP cache keeps it as stored, with no `Age`), not by the server's clock now.
      const redated = (tokenEndpoint || response.status === 401) && learn(name, response) && tokenEndpoint && response.status === 400;
      const nonce = nonceOf(response);
      // A refused proof is sent once more with a new one, never answered with a new token (which cannot fix it).
      if (nonce === undefined) return redated || isProofRefusal(response);
      if ((await nonces.get(name)) !== nonce) await nonces.set(name, nonce);
      // The caller retries once at most: a server that challenges every proof costs one more request, not a loop.
      return redated || isTokenEndpointNonceChallenge(response, oauthError) || isResourceNonceChallenge(response) || isProofRefusal(response);
    },
  });
  const authorizationServer = signing(tokenEndpointNonceKey, true);
  const dpop: SessionDPoP = {
    allowBearer,
    jkt: async () => (await key).jkt,
    ...signing(nonceOrigin, false),
    fetchResource: (request, accessToken, attempt) => fetchResource(dpop, request, accessToken, attempt, probes),
    requestToken(url, init, context, settings, answered) {
      provider = tokenEndpointNonceKey(url);
      return requestDPoPToken(url, init, context, settings, { ...dpop, ...authorizationServer }, answered);
    },
  };
  return dpop;
}
