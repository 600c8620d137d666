import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../../src/core/digest.js';
import { sha256 } from '../../src/core/sha256.js';

// The core's own SHA-256 (src/core/sha256.ts) must be SHA-256: node:crypto's (OpenSSL's) is the reference. Keys
// stored by earlier versions (IndexedDB record ids, Redis and Deno KV names, pool entries) must keep their names, so
// hashKey is checked against the same reference too.

const reference = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('sha256 (core/sha256.ts) is SHA-256', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256(new Uint8Array()))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('agrees with node:crypto at every length around the padding and block boundaries (0–200 bytes)', () => {
    for (let length = 0; length <= 200; length++) {
      const bytes = Uint8Array.from({ length }, (_, index) => (index * 131 + length) & 0xff);
      expect(hex(sha256(bytes)), `length ${length}`).toBe(reference(bytes));
    }
  });

  it('agrees with node:crypto on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1_000 }), (bytes) => hex(sha256(bytes)) === reference(bytes)),
      { numRuns: 500 },
    );
  });

  it('agrees with node:crypto on a 1 MB input (a length whose bit count needs more than 16 bits)', () => {
    const bytes = Uint8Array.from({ length: 1_000_003 }, (_, index) => (index * 7) & 0xff);
    expect(hex(sha256(bytes))).toBe(reference(bytes));
  });

  it('leaves its input as it was', () => {
    const bytes = Uint8Array.of(1, 2, 3);
    sha256(bytes);
    expect([...bytes]).toEqual([1, 2, 3]);
  });
});

describe('hashKey keeps the names earlier versions stored', () => {
  it('is the first 132 bits of the SHA-256 of the UTF-8 bytes, in base64url', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (input) => {
        const expected = createHash('sha256').update(input, 'utf8').digest('base64url').slice(0, 22);
        return hashKey(input) === expected;
      }),
      { numRuns: 500 },
    );
    expect(hashKey('client_credentials|https%3A%2F%2Fauth.example%2Ftoken|client')).toBe(
      createHash('sha256').update('client_credentials|https%3A%2F%2Fauth.example%2Ftoken|client').digest('base64url').slice(0, 22),
    );
  });
});
