import { expect, it } from 'vitest';
import type { WorkerAnswer } from './fixtures/worker.js';
import { inTab, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs({ worker: 'test/browser/fixtures/worker.ts' });

it('tabs, a dedicated worker and the service worker starting together make 1 token request', async () => {
  const client = env.server.addClient('workers');
  const credentials = `client=${client.id}&secret=${client.secret}`;
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret }), 3);

  // Everyone asks at the same moment: three tabs, a dedicated worker started by the first tab, the service worker.
  const [workerAnswer, serviceWorkerAnswer, ...tabTokens] = await Promise.all([
    tabs[0]!.evaluate(
      (url) =>
        new Promise<WorkerAnswer>((resolve) => {
          const worker = new Worker(url, { type: 'module' });
          worker.onmessage = (event: MessageEvent<WorkerAnswer>) => resolve(event.data);
          worker.postMessage('token');
        }),
      `/worker.js?${credentials}`,
    ),
    tabs[1]!.evaluate(async (url) => {
      const registration = await navigator.serviceWorker.register(url, { type: 'module', scope: '/' });
      const worker = registration.installing ?? registration.waiting ?? registration.active!;
      const channel = new MessageChannel();
      const answer = new Promise<WorkerAnswer>((resolve) => {
        channel.port1.onmessage = (event: MessageEvent<WorkerAnswer>) => resolve(event.data);
      });
      worker.postMessage('token', [channel.port2]);
      return answer;
    }, `/worker.js?${credentials}`),
    ...tabs.map((tab) => inTab(tab, (harness) => harness.token())),
  ]);

  expect(env.server.stats.tokenRequests).toBe(1);
  expect(workerAnswer).toMatchObject({ status: 200, token: tabTokens[0], errors: [] });
  expect(serviceWorkerAnswer).toMatchObject({ status: 200, token: tabTokens[0], errors: [], leader: false });
  expect(new Set(tabTokens).size).toBe(1);
  await context.close();
});
