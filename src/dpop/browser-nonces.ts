import { withDPoPStore } from './browser-key.js';

/**
 * The latest `DPoP-Nonce` (RFC 9449 §8, §9) of each server, by origin, in the DPoP database: shared by every tab and
 * worker of the origin, so that the challenge one context answered costs no other context a round trip. A nonce is
 * not a secret (the server sends it in clear to anyone who asks).
 */
export function readNonce(origin: string): Promise<string | undefined> {
  return withDPoPStore('nonces', 'readonly', (store) => {
    const request = store.get(origin);
    return () => (typeof request.result === 'string' ? request.result : undefined);
  });
}

/** Keeps `nonce` as the latest of the server at `origin`. */
export function saveNonce(origin: string, nonce: string): Promise<void> {
  return withDPoPStore('nonces', 'readwrite', (store) => {
    store.put(nonce, origin);
    return () => undefined;
  });
}
