import { describe, expect, it } from 'vitest';
import { oidcProvider } from '../../src/oidc/provider.js';

/**
 * Review of issue 25: the `dpop` option of `oidcSession` / `oidcProvider` takes `true`, `false` or
 * `{ allowBearer?: boolean }` (as `createSession`'s, which refuses anything else with `invalid_options`). Anything
 * else turned DPoP on silently (`dpop: null`, `0`, `'false'`) and a non-boolean `allowBearer` was ignored: a typo
 * must be `invalid_options`, not a session that binds tokens (or not) against the app's intent.
 */
const base = { issuer: 'https://op.example', clientId: 'web', scope: 'openid offline_access' };

describe('oidcProvider dpop option', () => {
  it('true, false, undefined and { allowBearer: boolean } are taken', () => {
    expect(oidcProvider({ ...base, dpop: true }).dpop).toBe(true);
    expect(oidcProvider({ ...base, dpop: { allowBearer: true } }).dpop).toBe(true);
    expect(oidcProvider({ ...base, dpop: {} }).dpop).toBe(true);
    expect(oidcProvider({ ...base, dpop: false }).dpop).toBe(false);
    expect(oidcProvider({ ...base }).dpop).toBe(false);
  });

  it.each([[null], [0], [1], ['false'], ['yes'], [{ allowBearer: 'yes' }], [{ allowBearer: 1 }]])('dpop: %j is invalid_options', (dpop) => {
    expect(() => oidcProvider({ ...base, dpop: dpop as never })).toThrow(expect.objectContaining({ name: 'SessionError', code: 'invalid_options' }));
  });
});
