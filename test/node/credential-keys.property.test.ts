import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSessionError } from '../../src/core/errors.js';
import { clientCredentials, type ClientCredentialsOptions } from '../../src/providers/client-credentials.js';
import type { TokenProvider } from '../../src/providers/provider.js';
import { refreshTokenGrant, type RefreshTokenGrantOptions } from '../../src/providers/refresh-token.js';

// Two providers share a session exactly when they share a key. So: the same options give the same key, and two
// providers with one key send the very same token request (endpoint, headers, form), secrets included. Small pools of
// values make equal and near-equal options (an empty scope next to none, `a b` next to `a+b`) meet often.
const runs = { seed: 16, numRuns: 400 } as const;

/** The token request a provider sends, as one comparable string: URL, method, headers and form parameters by name. */
async function requestOf(provider: TokenProvider): Promise<string> {
  let sent = '';
  const fetch = (async (url: string, init: RequestInit) => {
    const headers = Object.entries(init.headers as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1));
    // Form parameters by name: their order means nothing to a server (extraParams are sorted in the key too).
    const form = [...new URLSearchParams(String(init.body))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    sent = JSON.stringify([url, init.method, headers, form]);
    return new Response(JSON.stringify({ access_token: 'a', expires_in: 60 }), { status: 200 });
  }) as typeof globalThis.fetch;
  await provider.fetchToken({ signal: new AbortController().signal, fetch, clock: { now: () => 0 } });
  return sent;
}

const pick = <T>(...values: T[]): fc.Arbitrary<T> => fc.constantFrom(...values);
const text = pick<string | undefined>(undefined, '', 'x', 'x y', 'x+y', 'x%20y', 'é');

const clientOptions: fc.Arbitrary<ClientCredentialsOptions> = fc.record({
  tokenUrl: pick('https://a.example/token', 'https://a.example/token?x=1', 'https://b.example/token'),
  clientId: pick('a', 'b', 'a b', 'a+b', 'a:b'),
  clientSecret: pick('s', 't', 's ', 's:t', 'ß'),
  scope: text,
  audience: text,
  authMethod: pick(undefined, 'client_secret_post' as const, 'client_secret_basic' as const),
  extraParams: pick<Record<string, string> | undefined>(undefined, {}, { a: '1' }, { a: '' }, { scope: 'x' }, { a: '1', b: '2' }, { b: '2', a: '1' }, { 'a=1': '' }),
});

const refreshOptions: fc.Arbitrary<RefreshTokenGrantOptions> = fc.record({
  tokenUrl: pick('https://a.example/token', 'https://b.example/token'),
  clientId: pick('a', 'b', 'a b'),
  refreshToken: pick('r1', 'r2', 'r 1'),
  clientSecret: pick(undefined, 's', 't', ''),
  scope: text,
  authMethod: pick(undefined, 'client_secret_post' as const, 'client_secret_basic' as const),
});

/** Two option sets that differ in at most one field, so that near misses are the common case. */
function neighbours<T extends object>(options: fc.Arbitrary<T>): fc.Arbitrary<[T, T]> {
  return fc.tuple(options, options, fc.nat()).map(([a, c, n]) => {
    const fields = Object.keys(c) as (keyof T)[];
    const field = fields[n % fields.length]!;
    return [a, { ...a, [field]: c[field] }];
  });
}

describe('credential keys', () => {
  it('clientCredentials: the same options give the same key; one key means one request', async () => {
    await fc.assert(
      fc.asyncProperty(neighbours(clientOptions), async ([a, b]) => {
        const [first, again, other] = [clientCredentials(a), clientCredentials({ ...a }), clientCredentials(b)];
        expect(again.key).toBe(first.key);
        if (first.key === other.key) expect(await requestOf(other)).toBe(await requestOf(first));
      }),
      runs,
    );
  });

  it('refreshTokenGrant: the same options give the same key; one key means one request', async () => {
    await fc.assert(
      fc.asyncProperty(neighbours(refreshOptions), async ([a, b]) => {
        const [first, again, other] = [refreshTokenGrant(a), refreshTokenGrant({ ...a }), refreshTokenGrant(b)];
        expect(again.key).toBe(first.key);
        if (first.key === other.key) expect(await requestOf(other)).toBe(await requestOf(first));
      }),
      runs,
    );
  });

  it('ill-formed strings (lone surrogates) in options are an invalid_options SessionError, never a merged key', () => {
    const lone = fc.constantFrom('\uD800', '\uDFFF', 'a\uDBFFb');
    fc.assert(
      fc.property(lone, fc.constantFrom('clientId', 'scope', 'audience'), (bad, field) => {
        const options = { tokenUrl: 'https://a.example/token', clientId: 'a', clientSecret: 's', [field]: bad };
        let caught: unknown;
        try {
          clientCredentials(options);
        } catch (error) {
          caught = error;
        }
        expect(isSessionError(caught, 'invalid_options')).toBe(true);
      }),
      runs,
    );
  });
});
