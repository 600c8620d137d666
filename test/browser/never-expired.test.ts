import { expect, it } from 'vitest';
import { inProbe, probeUrl, useProbeTabs } from '../support/probe-tabs.js';
import { openTabs } from '../support/tabs.js';

const env = useProbeTabs();

// Review: getToken checks the first token a flight brings back, and flies once more if it is not usable; the second
// flight's token is returned unchecked (session-core.ts: `if (round > 0 || isUsable(...)) return token`), and so is a
// token fresh from the endpoint (browser.ts refresh()). When the endpoint answers more slowly than the tokens live
// (expiresAt is counted from when the request was sent), getToken resolves with a token that is already expired.
it('getToken hands out a token the clock says is expired when the endpoint is slower than the token lifetime', async () => {
  env.server.lifetime = 1; // 1 s tokens
  env.server.latency = 1300; // answered after 1.3 s
  const client = env.server.addClient('expired-on-arrival');
  const context = await env.browser.newContext();
  const [tab] = await openTabs(context, probeUrl(env.server.origin, { client: client.id, secret: client.secret }), 1);
  const token = await inProbe(tab!, (harness) => harness.fullToken());

  // Expected: never an expired token (a `token_expired`/`invalid_response` error instead). Observed: expired on return.
  expect(token.now - token.expiresAt, 'ms the returned token had been expired').toBeLessThan(0);
  await context.close();
});
