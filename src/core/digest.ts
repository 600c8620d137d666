import { sha256 } from './sha256.js';

// SHA-256 for keys that must not be collidable on purpose (one user's input must never land on another user's
// session). Synchronous, because keys are needed inside `createSession`; `crypto.subtle` is async and `node:crypto`
// is not in every runtime (see sha256.ts).

const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A short, collision-resistant key for `input`: the first 132 bits of its SHA-256 as 22 base64url characters. That
 * keeps a birthday attack above 2^64 work while a pooled key stays small in memory.
 */
export function hashKey(input: string): string {
  // 18 bytes are 24 base64 characters, no padding; `btoa` is in every runtime this package supports.
  const base64 = btoa(String.fromCharCode(...sha256(bytesOf(input)).subarray(0, 18)));
  return base64.replace(/\+/g, '-').replace(/\//g, '_').slice(0, 22);
}

/**
 * The bytes that identify `input`: its UTF-8 encoding, which is lossless for well-formed strings. UTF-8 turns every
 * lone surrogate into U+FFFD, which would merge `'a\uD800'` and `'a\uDFFF'`; such strings are hashed as their
 * UTF-16 code units behind a 0xFF byte instead, a byte that never occurs in UTF-8, so no two strings share bytes.
 */
function bytesOf(input: string): Uint8Array {
  if (!LONE_SURROGATE.test(input)) return encoder.encode(input);
  const bytes = new Uint8Array(1 + input.length * 2);
  bytes[0] = 0xff;
  for (let index = 0; index < input.length; index++) {
    const unit = input.charCodeAt(index);
    bytes[1 + index * 2] = unit >>> 8;
    bytes[2 + index * 2] = unit & 0xff;
  }
  return bytes;
}
