/**
 * A 64-bit, non-reversible fingerprint (two independent 32-bit FNV-1a lanes) for cache keys, channel names and
 * storage keys. Synchronous on purpose: keys are needed inside `createSession`, which must not be async.
 * Not a MAC and not for verifying secrets; only for telling credentials apart without keeping them in clear.
 */
export function fingerprint(input: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let index = 0; index < input.length; index++) {
    const code = input.charCodeAt(index);
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}
