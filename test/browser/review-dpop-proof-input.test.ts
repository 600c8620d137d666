import { decodeJwt } from 'jose';
import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * Review of issue 25 (browser): `session.dpopProof` of an `oidcSession({ dpop: true })` with hostile input must
 * reject with a typed `SessionError` (`invalid_options`), never a bare TypeError, and its `htm` must be the method
 * fetch sends (`patch` is sent as `patch`; only DELETE GET HEAD OPTIONS POST PUT are upper-cased), as the server
 * side's `createDPoPProof` already does.
 */
const env = useOidcApp({ dpop: true });

it('dpopProof with a non-string, empty or missing method, a missing request or a non-string token: invalid_options; htm as fetch sends it', async () => {
  env.config = { ...env.config, dpop: true };
  const context = await env.browser.newContext();
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!)).toBe('ok');
  const outcomes = await inApp(tab!, async (app, apiUrl) => {
    const cases: Record<string, unknown> = {
      'method 42': { method: 42, url: apiUrl },
      'method empty': { method: '', url: apiUrl },
      'method missing': { url: apiUrl },
      'method with a space': { method: 'GE T', url: apiUrl },
      'request undefined': undefined,
      'request null': null,
      'accessToken 5': { method: 'GET', url: apiUrl, accessToken: 5 },
      'url javascript:': { method: 'GET', url: 'javascript:alert(1)' },
      'url 42': { method: 'GET', url: 42 },
    };
    const out: Record<string, string> = {};
    for (const [name, request] of Object.entries(cases)) {
      out[name] = await app.session.dpopProof(request as never).then(
        () => 'signed',
        (error: { name?: string; code?: string }) => `${error.name}:${error.code ?? ''}`,
      );
    }
    return out;
  }, env.config.apiUrl);
  for (const [name, outcome] of Object.entries(outcomes)) expect({ name, outcome }).toEqual({ name, outcome: 'SessionError:invalid_options' });

  const methods = await inApp(tab!, async (app, apiUrl) => {
    const out: Record<string, [string, string]> = {};
    for (const method of ['patch', 'get', 'Delete', 'PATCH']) {
      const proof = await app.session.dpopProof({ method, url: apiUrl, accessToken: 'x' });
      out[method] = [proof, new Request(apiUrl, { method }).method];
    }
    return out;
  }, env.config.apiUrl);
  for (const [method, [proof, sent]] of Object.entries(methods)) expect({ method, htm: decodeJwt(proof).htm }).toEqual({ method, htm: sent });
  await context.close();
}, 60_000);
