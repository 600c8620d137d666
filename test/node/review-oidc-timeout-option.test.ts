import { expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';

/**
 * Review (bad input → a typed error at construction, never silent failure): a `timeout` past what timers hold
 * (2^31 - 1 ms, ≈ 24.8 days) made every request to the provider fail at once with `timeout`.
 */
it('a timeout past 2^31 - 1 ms is invalid_options at construction, not a timeout of every request', async () => {
  let caught: unknown;
  try {
    const provider = oidcProvider({ issuer: 'http://127.0.0.1:9/x', clientId: 'web', timeout: 3e9 });
    caught = await provider
      .fetchToken({ signal: new AbortController().signal, fetch: () => new Promise<Response>(() => undefined), clock: { now: () => Date.now() }, refreshToken: 'rt' })
      .catch((error: unknown) => error);
  } catch (error) {
    caught = error;
  }
  expect(isSessionError(caught, 'invalid_options')).toBe(true);
  expect(() => oidcProvider({ issuer: 'http://127.0.0.1:9/x', clientId: 'web', timeout: 2_147_483_647 })).not.toThrow();
});
