// SHA-256 (FIPS 180-4), synchronous and small: credential keys are needed inside `createSession`, before anything
// can be awaited, and `crypto.subtle` is async (and missing on http: pages). It replaces @noble/hashes, whose
// SHA-256 with its helpers cost the browser core 5.4 KB minified (2 KB min+gzip) of a 15 KB goal; this costs
// ≈ 0.6 KB. It hashes only keys (no timing-sensitive comparison), and test/node/sha256.property.test.ts checks it
// against node:crypto on arbitrary inputs, block boundaries included.

/** The first 32 bits of the fractional part of `root` (a positive number), as an unsigned word. */
const fractionWord = (root: number): number => ((root % 1) * 0x100000000) >>> 0;

const isPrime = (n: number): boolean => {
  for (let divisor = 2; divisor * divisor <= n; divisor++) if (n % divisor === 0) return false;
  return true;
};

/**
 * The constants of §4.2.2 and §5.3.3: the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes (`K`, one per round) and of the square roots of the first 8 (`initial`, the hash before the first block).
 * Derived on first use rather than written out: 72 words that look random to gzip cost ≈ 0.3 kB min+gzip in every
 * bundle, this loop a tenth of it. Exact in every engine: the fraction nearest to a 32-bit boundary is 2^-39.5 away
 * from it, 2^10 times the error of a double's root (`Math.sqrt` is exact to the last bit, `Math.cbrt` within an ulp);
 * test/node/sha256.property.test.ts checks them against the published values.
 */
export function sha256Constants(): { readonly K: readonly number[]; readonly initial: readonly number[] } {
  if (constants === undefined) {
    const K: number[] = [];
    const initial: number[] = [];
    for (let n = 2; K.length < 64; n++) {
      if (!isPrime(n)) continue;
      if (initial.length < 8) initial.push(fractionWord(Math.sqrt(n)));
      K.push(fractionWord(Math.cbrt(n)));
    }
    constants = { K, initial };
  }
  return constants;
}
let constants: ReturnType<typeof sha256Constants> | undefined;

const rotateRight = (word: number, bits: number): number => (word >>> bits) | (word << (32 - bits));

/** The 32-byte SHA-256 digest of `message`. */
export function sha256(message: Uint8Array): Uint8Array {
  // Padding (§5.1.1): a 1 bit, zeros up to 8 bytes short of a 64-byte block, then the length in bits as a 64-bit
  // big-endian number (written as two 32-bit halves: bitwise operators would cut it to 32 bits).
  const length = Math.ceil((message.length + 9) / 64) * 64;
  const padded = new Uint8Array(length);
  padded.set(message);
  padded[message.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(length - 8, Math.floor(message.length / 0x20000000));
  view.setUint32(length - 4, (message.length * 8) % 0x100000000);
  const { K, initial } = sha256Constants();
  const hash = initial.slice();
  const schedule = new Uint32Array(64);
  for (let block = 0; block < length; block += 64) {
    // The message schedule (§6.2.2 step 1); a Uint32Array keeps each word modulo 2^32.
    for (let t = 0; t < 16; t++) schedule[t] = view.getUint32(block + t * 4);
    for (let t = 16; t < 64; t++) {
      const w15 = schedule[t - 15]!;
      const w2 = schedule[t - 2]!;
      const sigma0 = rotateRight(w15, 7) ^ rotateRight(w15, 18) ^ (w15 >>> 3);
      const sigma1 = rotateRight(w2, 17) ^ rotateRight(w2, 19) ^ (w2 >>> 10);
      schedule[t] = schedule[t - 16]! + sigma0 + schedule[t - 7]! + sigma1;
    }
    let [a, b, c, d, e, f, g, h] = hash as [number, number, number, number, number, number, number, number];
    for (let t = 0; t < 64; t++) {
      // Sums of at most five 32-bit words are exact in a double; `| 0` takes them modulo 2^32.
      const sum1 = rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25);
      const choice = (e & f) ^ (~e & g);
      const temp1 = (h + sum1 + choice + K[t]! + schedule[t]!) | 0;
      const sum0 = rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22);
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const temp2 = (sum0 + majority) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + temp1) | 0;
      d = c;
      c = b;
      b = a;
      a = (temp1 + temp2) | 0;
    }
    const round = [a, b, c, d, e, f, g, h];
    for (let i = 0; i < 8; i++) hash[i] = (hash[i]! + round[i]!) | 0;
  }
  const digest = new Uint8Array(32);
  const out = new DataView(digest.buffer);
  for (let i = 0; i < 8; i++) out.setUint32(i * 4, hash[i]! >>> 0);
  return digest;
}
