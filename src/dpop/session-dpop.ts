/**
 * What a session created with `dpop` loads on first use (package.json `imports` `#dpop`): the key, proofs and
 * nonces. No core bundle holds it; the browser's sign-in loads it the same way.
 */
import type { Clock } from '../core/clock.js';
import type { DPoPKey, DPoPOptions, SessionDPoP } from '../core/dpop.js';
import { SessionError } from '../core/errors.js';
import type { Sharing } from '../sharing/sharing.js';
import { dpopKeyFromPair, generateDPoPKey, importDPoPKey, isDPoPKey } from './key.js';
import { sessionDPoP } from './signer.js';
import { memoryNonceStore, type DPoPNonceStore } from './nonces.js';
import { memoryClockOffsets, type DPoPClockOffsets } from './clock-offsets.js';

export { createDPoPProof, type DPoPProofRequest } from './proof.js';
export { dpopKeyFromPair, generateDPoPKey, importDPoPKey, isDPoPKey } from './key.js';
export { challenges, memoryNonceStore, nonceOf, nonceOrigin, type DPoPNonceStore } from './nonces.js';
export { sessionDPoP, type SessionDPoPSettings } from './signer.js';
export { dpopTokenSet } from './token-type.js';

/** The key `dpop: true` uses in this process (isolate, worker): generated once, on first use. */
let processKey: Promise<DPoPKey> | undefined;
/** The servers' nonces, for every session of this context: one challenge per server, not one per session. */
let processNonces: DPoPNonceStore | undefined;
/**
 * How far each server's clock is from a session's clock, for every session of this context with that clock (an
 * offset is not a secret; two clocks, e.g. one an app synchronised itself, each have theirs).
 */
const processOffsets = new WeakMap<Clock, DPoPClockOffsets>();

/**
 * The DPoP of a session, from its `dpop` option: its key resolved (generated or imported, once) and its nonces.
 * `originCredential`: the credential whose origin-wide key to use (given by the caller in browsers only). `sharing`:
 * the session's transport; one that hands the token to other processes needs the app's key (refused otherwise).
 */
export function loadSessionDPoP(
  option: true | DPoPOptions,
  clock: Clock,
  nonces?: DPoPNonceStore,
  originCredential?: string,
  sharing?: Pick<Sharing, 'kind' | 'acrossProcesses'>,
): SessionDPoP {
  const given = option === true ? undefined : option.key;
  if (given === undefined && originCredential === undefined && sharing?.acrossProcesses === true) {
    // Each member would generate its own key and so be a credential of its own: N token requests for one fleet, and
    // with a refresh token, N members sending the one refresh token (a reuse that revokes the grant).
    throw new SessionError(
      'invalid_options',
      `dpop: true generates a DPoP key in each process, and ${String(sharing.kind)} sharing hands the token to other processes, which cannot sign with it: give every member the same key, dpop: { key } (a private JWK or PKCS#8 PEM from your secret store)`,
    );
  }
  const key =
    given === undefined && originCredential !== undefined
      ? originKey(originCredential)
      : given === undefined
      ? (processKey ??= generateDPoPKey().catch((error: unknown) => {
          processKey = undefined;
          throw error;
        }))
      : isDPoPKey(given)
        ? given
        : importDPoPKey(given);
  return sessionDPoP({ key, clock, nonces: nonces ?? (processNonces ??= memoryNonceStore()), offsets: offsetsOf(clock), allowBearer: option !== true && option.allowBearer === true });
}

function offsetsOf(clock: Clock): DPoPClockOffsets {
  let offsets = processOffsets.get(clock);
  if (offsets === undefined) processOffsets.set(clock, (offsets = memoryClockOffsets()));
  return offsets;
}

/**
 * In a browser, `dpop: true`'s key is the origin's, one per credential, made once under its Web Lock and kept in
 * IndexedDB (`loadOrCreateKey`): every tab, worker and the service worker shares the credential's token, and so must
 * sign with its key (a key per context made every tab a credential of its own, each sending the one refresh token).
 */
async function originKey(credential: string): Promise<DPoPKey> {
  // package.json `imports`: the IndexedDB key in browsers, a refusal in Node and workerd (which never get here).
  const { loadOrCreateKey } = await import('#dpop-origin-key');
  const { privateKey, publicKey } = await loadOrCreateKey(credential, Date.now());
  return dpopKeyFromPair({ privateKey, publicKey }, 'ES256');
}
