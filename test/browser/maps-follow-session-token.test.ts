import { expect, it } from 'vitest';
import { FORMAT } from '../../src/sharing/browser/messages.js';
import { inProbe, probeUrl, useProbeTabs } from '../support/probe-tabs.js';
import { openTabs } from '../support/tabs.js';

const env = useProbeTabs();

// maplibreTransformRequest hands out the session's current token, not whichever token it has seen that expires last
// (it used to keep `token.expiresAt >= current.expiresAt`). When the session replaced a 401-rejected token with one
// that expires sooner (the server now issues shorter tokens, e.g. Keycloak capping `expires_in` at the SSO session's
// end), MapLibre kept sending the rejected token for the rest of its life.
it('after a 401 replaces the token with a shorter-lived one, MapLibre sends the new token, not the rejected one', async () => {
  const client = env.server.addClient('map-rejected');
  const context = await env.browser.newContext();
  const [tab] = await openTabs(context, probeUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 1);
  const first = await inProbe(tab!, (harness) => harness.first);
  await inProbe(tab!, (harness) => harness.startMap());
  expect(await inProbe(tab!, (harness) => harness.mapAuthorization())).toBe(`Bearer ${first}`);

  // The API stops accepting the token early; from now on the server issues 10-minute tokens.
  env.server.revokeAll();
  env.server.lifetime = 600;
  const call = await inProbe(tab!, (harness) => harness.apiCall());
  expect(call.status).toBe(200); // the 401 rule replaced the token for the session
  expect(call.token).not.toBe(first);
  expect(await inProbe(tab!, (harness) => harness.token())).toBe(call.token);
  expect(env.server.isValid(first!)).toBe(false);

  // The map follows the session's token (with the old rule it kept the rejected one: every tile then got a 401).
  expect(await inProbe(tab!, (harness) => harness.mapAuthorization())).toBe(`Bearer ${call.token}`);
  await context.close();
});

it('a forged long-lived token does not stick in MapLibre once the session has replaced it', async () => {
  const client = env.server.addClient('map-forged');
  const context = await env.browser.newContext();
  const [tab] = await openTabs(context, probeUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 1);
  await inProbe(tab!, (harness) => harness.first);
  await inProbe(tab!, (harness) => harness.startMap());
  // A same-origin forger: a current issuedAt (so the session's 401 rule can replace it), an expiry ten years away.
  await inProbe(
    tab!,
    (harness, v) => {
      const now = Date.now();
      harness.post({ v, key: harness.key(), type: 'token', token: { accessToken: 'forged', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 10 * 365 * 24 * 3_600_000 } });
    },
    FORMAT,
  );
  await expect.poll(() => inProbe(tab!, (harness) => harness.token())).toBe('forged');
  const call = await inProbe(tab!, (harness) => harness.apiCall());
  expect(call.status).toBe(200); // the 401 rule replaced the forged token in the session
  expect(await inProbe(tab!, (harness) => harness.token())).toBe(call.token);
  // MapLibre follows (with the old rule it sent the forged token for the next ten years).
  expect(await inProbe(tab!, (harness) => harness.mapAuthorization())).toBe(`Bearer ${call.token}`);
  await context.close();
});
