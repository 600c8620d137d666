import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../../src/core/digest.js';
import { sha256, sha256Constants } from '../../src/core/sha256.js';

// The core's own SHA-256 (src/core/sha256.ts) must be SHA-256: node:crypto's (OpenSSL's) is the reference. Keys
// stored by earlier versions (IndexedDB record ids, Redis and Deno KV names, pool entries) must keep their names, so
// hashKey is checked against the same reference too.

const reference = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('sha256 (core/sha256.ts) is SHA-256', () => {
  it('derives the constants FIPS 180-4 publishes (§4.2.2 K, §5.3.3 initial hash)', () => {
    const { K, initial } = sha256Constants();
    expect(K).toEqual([
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
      0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
      0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
      0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
      0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
      0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]);
    expect(initial).toEqual([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  });

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
