import type { Page } from 'playwright-core';
import type { OidcWorkerAnswer } from '../browser/fixtures/oidc-worker.js';
import type { AppConfig } from './oidc-app.js';

export type { OidcWorkerAnswer };

/** The URL of the app server's worker script (test/browser/fixtures/oidc-worker.ts) for `config`'s session. */
export function oidcWorkerUrl(config: AppConfig): string {
  const query = new URLSearchParams({ issuer: config.issuer, clientId: config.clientId, scope: config.scope, apiUrl: config.apiUrl });
  if (config.dpop === true) query.set('dpop', '');
  return `/oidc-worker.js?${query}`;
}

/** Starts a dedicated worker in `page` (it lives and dies with the page); the result sends it a command. */
export async function startDedicatedWorker(page: Page, url: string): Promise<(command: string) => Promise<OidcWorkerAnswer>> {
  const name = `oidcWorker${Math.random().toString(36).slice(2)}`;
  await page.evaluate(
    ({ scriptUrl, global }) => {
      (globalThis as unknown as Record<string, Worker>)[global] = new Worker(scriptUrl, { type: 'module' });
    },
    { scriptUrl: url, global: name },
  );
  return (command) =>
    page.evaluate(
      ({ message, global }) =>
        new Promise<OidcWorkerAnswer>((resolve) => {
          const worker = (globalThis as unknown as Record<string, Worker>)[global]!;
          worker.addEventListener('message', (event: MessageEvent<OidcWorkerAnswer>) => resolve(event.data), { once: true });
          worker.postMessage(message);
        }),
      { message: command, global: name },
    );
}

/**
 * Registers the service worker (scope `/`) from `page`; the result sends it a command through a MessageChannel from
 * whichever page of the origin it is given (the service worker outlives the page that registered it).
 */
export async function startServiceWorker(page: Page, url: string): Promise<(from: Page, command: string) => Promise<OidcWorkerAnswer>> {
  await page.evaluate(async (scriptUrl) => {
    await navigator.serviceWorker.register(scriptUrl, { type: 'module', scope: '/' });
    await navigator.serviceWorker.ready;
  }, url);
  return (from, command) =>
    from.evaluate(async (message) => {
      const registration = await navigator.serviceWorker.ready;
      const channel = new MessageChannel();
      const answer = new Promise<OidcWorkerAnswer>((resolve) => {
        channel.port1.onmessage = (event: MessageEvent<OidcWorkerAnswer>) => resolve(event.data);
      });
      registration.active!.postMessage(message, [channel.port2]);
      return answer;
    }, command);
}
