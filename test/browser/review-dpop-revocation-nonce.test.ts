import { decodeJwt } from 'jose';
import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * Review of issue 25 (DPoP): "DPoP proofs on the code exchange, refreshes and revocation"; nonces "from the token
 * endpoint" retried once. A provider that asks for a nonce at its revocation endpoint too (as it does at its token
 * endpoint): the sign-out's revocation must answer the `use_dpop_nonce` challenge once, as the token requests do.
 */
const env = useOidcApp({ dpop: true });

it('sign-out: a use_dpop_nonce challenge of the revocation endpoint is answered once with a new proof, and the refresh token is revoked', async () => {
  env.config = { ...env.config, dpop: true };
  const context = await env.browser.newContext();
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!)).toBe('ok');
  // The revocation endpoint wants its own nonce in the proof (the token endpoint already does, oidc-provider's own).
  const proofs: { nonce?: unknown; htu?: unknown }[] = [];
  await context.route(`${env.op.issuer}/token/revocation`, async (route) => {
    const request = route.request();
    const origin = request.headers().origin ?? '*';
    const cors = { 'access-control-allow-origin': origin, 'access-control-expose-headers': 'dpop-nonce', 'access-control-allow-headers': 'dpop, content-type, authorization' };
    if (request.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    const proof = request.headers().dpop;
    const claims = proof === undefined ? {} : decodeJwt(proof);
    proofs.push({ nonce: claims.nonce, htu: claims.htu });
    if (claims.nonce !== 'revocation-nonce') {
      return route.fulfill({
        status: 400,
        headers: { ...cors, 'content-type': 'application/json', 'dpop-nonce': 'revocation-nonce', 'cache-control': 'no-store' },
        body: JSON.stringify({ error: 'use_dpop_nonce', error_description: 'nonce required' }),
      });
    }
    return route.continue();
  });
  const errors: string[] = [];
  await tab!.exposeFunction('noteError', (code: string) => errors.push(code));
  await inApp(tab!, (app) => void app.session.on('error', (error) => (globalThis as unknown as { noteError: (c: string) => void }).noteError(`${error.code}: ${error.message}`)));
  expect(await inApp(tab!, (app) => app.signOut(false))).toBe('ok');
  // Observed: one proof without the nonce, the challenge not answered: the refresh token stays valid at the provider.
  expect({ proofs, errors, revocations: env.op.counts.revocations }).toEqual({
    // The first proof carries the provider's latest nonce (its token endpoint's), the retry the revocation's.
    proofs: [{ nonce: expect.not.stringMatching(/^revocation-nonce$/), htu: `${env.op.issuer}/token/revocation` }, { nonce: 'revocation-nonce', htu: `${env.op.issuer}/token/revocation` }],
    errors: [],
    revocations: 1,
  });
  await context.close();
}, 60_000);
