import { it } from 'vitest';
import { useOidcApp } from '../support/oidc-app.js';
import { lateAnswersInTabs } from '../support/late-answer-tabs.js';

/**
 * A refresh answer that arrives after its access token expired keeps the grant, in real Chromium with two tabs of
 * `oidcSession` (Bearer) sharing through IndexedDB and the leader: the scenario and its rule are in
 * test/support/late-answer-tabs.ts; the DPoP run is late-answer-keeps-grant-dpop.test.ts.
 */
const env = useOidcApp();

it('late refresh answers (one, then three in a row, then the leader gone): 0 reused, 0 revoked, no expired token handed out, still signed in', async () => {
  await lateAnswersInTabs(env);
});
