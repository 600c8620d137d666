import { it } from 'vitest';
import { useOidcApp } from '../support/oidc-app.js';
import { lateAnswersInTabs } from '../support/late-answer-tabs.js';

/** late-answer-keeps-grant.test.ts with DPoP (RFC 9449): oidc-provider binds the tokens and requires nonces. */
const env = useOidcApp({ dpop: true });

it('with DPoP: late refresh answers (one, then three in a row, then the leader gone): 0 reused, 0 revoked, no expired token handed out, still signed in', async () => {
  env.config = { ...env.config, dpop: true };
  await lateAnswersInTabs(env);
});
