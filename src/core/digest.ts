import { sha256 } from '@noble/hashes/sha2.js';

// SHA-256 for keys that must not be collidable on purpose (one user's input must never land on another user's
// session). Synchronous, because keys are needed inside `createSession`; `crypto.subtle` is async and `node:crypto`
// is not in every runtime. @noble/hashes is audited, dependency-free and runs in browsers, Deno, workerd and Node.

const encoder = new TextEncoder();
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A short, collision-resistant key for `input`: the first 132 bits of its SHA-256 (of the UTF-8 encoding) as 22
 * base64url characters. That keeps a birthday attack above 2^64 work while a pooled key stays small in memory.
 */
export function hashKey(input: string): string {
  const digest = sha256(encoder.encode(input));
  let out = '';
  for (let i = 0; i < 18; i += 3) {
    const n = (digest[i]! << 16) | (digest[i + 1]! << 8) | digest[i + 2]!;
    out += ALPHABET[(n >>> 18) & 63]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!;
  }
  return out.slice(0, 22);
}
