import { describe, expect, it } from 'vitest';
import { generateDPoPKey } from '../../src/dpop.js';
import { challenges } from '../../src/dpop/nonces.js';
import { sessionDPoP } from '../../src/dpop/signer.js';

/**
 * Review of issue 25: a session with DPoP reads every 401 that carries a `DPoP-Nonce` (is it a `use_dpop_nonce`
 * challenge?) by parsing its `WWW-Authenticate` with `challenges()`. Its scheme pattern (`^\s*,*\s*`) backtracks
 * quadratically on a run of spaces after a comma: a 16 KB header (Node's default header limit) blocked the event loop
 * for ~1.3 s per response, 64 KB (runtimes with larger limits) ~16 s. An API answering that to every call stalls the
 * whole server. Expected: linear time (a 64 KB header parsed in well under 100 ms), same results.
 */
const hostile = (n: number): string[] => ['DPoP a=b,' + ' '.repeat(n) + '@', 'DPoP, ' + ' '.repeat(n) + '@', 'DPoP a="x",' + ' '.repeat(n) + '='];

describe('WWW-Authenticate parsing is linear', () => {
  it('64 KB of spaces after a comma: parsed at once', () => {
    for (const header of hostile(64_000)) {
      const started = performance.now();
      challenges(header);
      expect(performance.now() - started).toBeLessThan(100);
    }
  });

  it('a 401 with a nonce and such a header is read at once, and still not taken for a challenge', async () => {
    const dpop = sessionDPoP({ key: await generateDPoPKey() });
    const response = new Response(null, { status: 401, headers: { 'www-authenticate': hostile(16_000)[0]!, 'dpop-nonce': 'n-1' } });
    const started = performance.now();
    expect(await dpop.received('https://api.example/x', response)).toBe(false);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('the same challenges as before for well-formed headers', () => {
    expect(challenges('DPoP error="use_dpop_nonce", error_description="x", Bearer realm="r"').map((c) => [c.scheme, Object.fromEntries(c.params)])).toEqual([
      ['dpop', { error: 'use_dpop_nonce', error_description: 'x' }],
      ['bearer', { realm: 'r' }],
    ]);
    expect(challenges(' , Basic , DPoP algs="ES256"').map((c) => c.scheme)).toEqual(['basic', 'dpop']);
    expect(challenges('Bearer').map((c) => c.scheme)).toEqual(['bearer']);
  });
});
