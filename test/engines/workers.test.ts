import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, report, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('tabs, a dedicated worker and the service worker asking at the same moment make 1 token request', async (context) => {
    const { expect } = context;
    if (!env.engine.supports.serviceWorker) context.skip(`${name} has no service worker on http://127.0.0.1`);
    const client = env.server.addClient('workers');
    const params = { client: client.id, secret: client.secret };
    const tabs = [
      ...(await env.tabs(1, { ...params, role: 'worker' })),
      ...(await env.tabs(1, { ...params, role: 'sw' })),
      ...(await env.tabs(1, params)),
    ];
    // Everyone asks at one moment: the three tabs, a dedicated worker started by the first, the service worker
    // registered by the second (the worker fixture answers with its token, an API call's status and its leadership).
    const [worker, serviceWorker, third] = await env.inTabs(tabs, async (harness) => {
      const started = harness.now();
      const [own, other] = await Promise.all([
        harness.token(),
        location.search.includes('role=worker')
          ? harness.dedicatedWorker()
          : location.search.includes('role=sw')
            ? harness.serviceWorker()
            : Promise.resolve(undefined),
      ]);
      return { own, other, ms: harness.now() - started };
    });
    expect(env.server.stats.tokenRequests).toBe(1);
    const token = worker!.own;
    expect(new Set([worker!.own, serviceWorker!.own, third!.own]).size).toBe(1);
    expect(worker!.other).toMatchObject({ status: 200, token, errors: [] });
    // Service workers follow and never lead: the browser stops them when idle.
    expect(serviceWorker!.other).toMatchObject({ status: 200, token, errors: [], leader: false });
    report(name, 'tabs + dedicated worker + service worker', `all served after ${Math.max(worker!.ms, serviceWorker!.ms, third!.ms).toFixed(0)} ms (max), 1 request`);
  });
});
