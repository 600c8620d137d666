/**
 * `shared-session/dpop`: sender-constrained tokens, DPoP (RFC 9449). Sessions get it with the `dpop` option of
 * `createSession` (`true`, or `{ key }`); this entry is for apps that bring their own key — a fleet of servers that
 * share tokens must all sign with one (`importDPoPKey(jwkOrPem)`) — or build proofs themselves.
 *
 * @packageDocumentation
 */
export { dpopKeyFromPair, generateDPoPKey, importDPoPKey, isDPoPKey } from './dpop/key.js';
export type { DPoPAlgorithm, DPoPKey, DPoPOptions, DPoPRequest, SessionDPoP } from './core/dpop.js';
export { createDPoPProof, type DPoPProofRequest } from './dpop/proof.js';
export { memoryNonceStore, type DPoPNonceStore } from './dpop/nonces.js';
