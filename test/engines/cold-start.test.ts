import { describe, expect, it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { useEngine } from '../support/engines/suite.js';

describe.each(ENGINES)('%s', (name) => {
  const env = useEngine(name);

  it('tabs starting together make 1 token request and share its token; a late tab makes none', async () => {
    const client = env.server.addClient('cold-start');
    const params = { client: client.id, secret: client.secret };
    const tabs = await env.tabs(name === 'webkit' ? 4 : 6, params);
    const started = await env.inTabs(tabs, async (harness) => {
      const at = harness.now();
      const token = await harness.token();
      return { token, ms: harness.now() - at, visibility: harness.visibility() };
    });
    console.warn(name, env.engine.version, started.map((s) => `${s.visibility} ${s.ms.toFixed(1)}`).join(', '));
    expect(env.server.stats.tokenRequests).toBe(1);
    expect(new Set(started.map((s) => s.token)).size).toBe(1);
    const [late] = await env.tabs(1, { ...params, auto: true });
    expect(await env.inTab(late!, (harness) => harness.first)).toBe(started[0]!.token);
    expect(env.server.stats.tokenRequests).toBe(1);
  });
});
