import { describe, expect, it } from 'vitest';
import { idTokenCases } from './cases/id-token.js';
import { expectSignedIn, expectSignInRefused, title } from './support/expectations.js';
import { useConformance } from './support/relying-parties.js';

/**
 * Every ID token defect of the RP certification plan (Basic RP, code flow), in real Chromium against the
 * misbehaving provider: refused with a typed error and never signed in, or accepted where the spec allows.
 */
const env = useConformance();

describe.concurrent('ID token of the code exchange', () => {
  for (const test of idTokenCases) {
    it(title(test), async () => {
      const outcome = await env.signIn(test.id, test.defect, test.rp);
      if (test.refused !== undefined) {
        await expectSignInRefused(env, test.id, outcome, test.refused);
        // The code was exchanged (the ID token comes with the token response), and its token never handed out.
        expect(env.op.counts(test.id).codeExchanges).toBe(1);
      } else {
        expectSignedIn(env, test.id, outcome);
        expect(await env.inRp(test.id, (rp) => rp.state().user?.sub)).toBe('alice');
      }
    });
  }
});
