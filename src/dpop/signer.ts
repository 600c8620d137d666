import type { Clock } from '../core/clock.js';
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

/** The DPoP of one session: proofs signed with its key, nonces kept per server. */
export function sessionDPoP(settings: SessionDPoPSettings): SessionDPoP {
  const { allowBearer = false, nonces = memoryNonceStore(), clock } = settings;
  const probes = probesOf(nonces);
  const key = Promise.resolve(settings.key);
  // Observed at once: a key that fails to import is reported by the first proof, not as an unhandled rejection.
  key.catch(() => undefined);
  /** Proofs and answers of the servers `server` names: the APIs by origin, the provider's endpoints apart (§8, §9). */
  const signing = (server: (url: string | URL) => string): Pick<SessionDPoP, 'proof' | 'received'> => ({
    async proof(request: DPoPRequest) {
      const nonce = await nonces.get(server(request.url));
      return createDPoPProof(await key, { ...request, nonce }, clock);
    },
    async received(url, response, oauthError) {
      const nonce = nonceOf(response);
      // A refused proof is sent once more with a new one, never answered with a new token (which cannot fix it).
      if (nonce === undefined) return isProofRefusal(response);
      const name = server(url);
      if ((await nonces.get(name)) !== nonce) await nonces.set(name, nonce);
      // The caller retries once at most: a server that challenges every proof costs one more request, not a loop.
      return isTokenEndpointNonceChallenge(response, oauthError) || isResourceNonceChallenge(response) || isProofRefusal(response);
    },
  });
  const authorizationServer = signing(tokenEndpointNonceKey);
  const dpop: SessionDPoP = {
    allowBearer,
    jkt: async () => (await key).jkt,
    ...signing(nonceOrigin),
    fetchResource: (request, accessToken, attempt) => fetchResource(dpop, request, accessToken, attempt, probes),
    requestToken(url, init, context, settings, answered) {
      return requestDPoPToken(url, init, context, settings, { ...dpop, ...authorizationServer }, answered);
    },
  };
  return dpop;
}
