import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { RelyingParty, RelyingPartyConfig } from '../fixtures/relying-party.js';
import { bundleFixtures, launchChromium } from '../../support/chromium.js';
import { CLIENT_ID, startMisbehavingProvider, type Defect, type MisbehavingProvider } from './misbehaving-provider.js';

/** How a case's sign-in ended in its relying party. */
export type SignInOutcome =
  | { phase: 'ready'; ready: string; signedIn: boolean; user?: Record<string, unknown>; token: string; errors: string[]; url: string }
  | { phase: 'sign-in-failed'; code: string };

export interface Conformance {
  readonly op: MisbehavingProvider;
  /**
   * Configures the case's defect at the provider, loads its relying party in an iframe of the one host page, signs
   * in, and resolves with how that ended (bounded: `timeout` ms).
   */
  signIn(caseId: string, defect?: Defect, rpOptions?: Partial<RelyingPartyConfig>, timeout?: number): Promise<SignInOutcome>;
  /** Loads the case's relying party again (`?start`: and signs in), keeping the provider's state; as `signIn`. */
  load(caseId: string, query?: string, timeout?: number): Promise<SignInOutcome>;
  /** Every outcome the case's relying party has posted since it was last loaded by `signIn`/`load`. */
  outcomes(caseId: string): Promise<Record<string, unknown>[]>;
  /** Runs `task` in the case's relying party (its iframe). `task` is sent as source: it may use only its arguments. */
  inRp<R, A = undefined>(caseId: string, task: (rp: RelyingParty, arg: A) => R | Promise<R>, arg?: A): Promise<R>;
  /** The host page, where every case's iframe lives. */
  readonly page: Page;
}

/**
 * For the calling file: the misbehaving provider, an app server (the host page `/`, each case's relying party at
 * `/rp/<case>`), one Chromium and one page, started once and shared by every case (cases run side by side, each in
 * its own iframe with its own issuer).
 */
export function useConformance(): Conformance {
  const state = {} as { op: MisbehavingProvider; app: Server; origin: string; browser: Browser; page: Page };
  const configs = new Map<string, RelyingPartyConfig>();
  beforeAll(async () => {
    const [files, op, browser] = await Promise.all([
      bundleFixtures({ 'relying-party': 'test/conformance/fixtures/relying-party.ts' }),
      startMisbehavingProvider(),
      launchChromium(),
    ]);
    state.op = op;
    state.browser = browser;
    state.app = createServer((req, res) => {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost');
      const html = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
      if (pathname === '/') {
        res.writeHead(200, html).end(
          // Outcomes by the iframe that posted them; a message from another origin (a data: document) is script that ran.
          `<!doctype html><title>conformance host</title><script>globalThis.outcomes = {}; addEventListener('message', (event) => {` +
            `const frame = [...document.querySelectorAll('iframe')].find((candidate) => candidate.contentWindow === event.source);` +
            `if (frame !== undefined) (outcomes[frame.name] ??= []).push(event.origin === location.origin ? event.data : { phase: 'script-ran', origin: event.origin }); });</script>`,
        );
        return;
      }
      const config = configs.get(pathname.slice('/rp/'.length));
      if (pathname.startsWith('/rp/') && config !== undefined) {
        res.writeHead(200, html).end(
          `<!doctype html><title>${config.caseId}</title><script>globalThis.rpConfig = ${JSON.stringify(config).replace(/</g, '\\u003c')};</script>` +
            `<script type="module" src="/relying-party.js"></script>`,
        );
        return;
      }
      const body = files[pathname.slice(1)];
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'max-age=600' }).end(body);
    });
    await new Promise<void>((resolve) => state.app.listen(0, '127.0.0.1', resolve));
    state.origin = `http://127.0.0.1:${(state.app.address() as AddressInfo).port}`;
    state.page = await browser.newPage();
    await state.page.goto(`${state.origin}/`);
  });
  afterAll(async () => {
    await state.browser?.close();
    await state.op?.close();
    await new Promise<void>((resolve) => {
      state.app?.closeAllConnections();
      state.app?.close(() => resolve());
    });
  });

  return {
    get op() {
      return state.op;
    },
    get page() {
      return state.page;
    },
    signIn(caseId, defect, rpOptions = {}, timeout = 15_000) {
      state.op.configure(caseId, defect);
      configs.set(caseId, { caseId, issuer: state.op.issuer(caseId), clientId: CLIENT_ID, scope: 'openid offline_access', ...rpOptions });
      return this.load(caseId, 'start', timeout);
    },
    load(caseId, query = 'start', timeout = 15_000) {
      return state.page.evaluate(
        async ({ caseId, query, timeout }) => {
          const outcomes = (globalThis as unknown as { outcomes: Record<string, unknown[]> }).outcomes;
          delete outcomes[caseId];
          document.querySelector(`iframe[name="${caseId}"]`)?.remove();
          const frame = document.createElement('iframe');
          frame.name = caseId;
          frame.src = `/rp/${caseId}?${query}`;
          document.body.append(frame);
          const started = Date.now();
          while (outcomes[caseId] === undefined) {
            if (Date.now() - started > timeout) return { phase: 'sign-in-failed', code: `no outcome within ${timeout} ms` };
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
          return outcomes[caseId][0];
        },
        { caseId, query, timeout },
      ) as Promise<SignInOutcome>;
    },
    outcomes(caseId) {
      return state.page.evaluate((caseId) => (globalThis as unknown as { outcomes: Record<string, Record<string, unknown>[]> }).outcomes[caseId] ?? [], caseId);
    },
    inRp<R, A>(caseId: string, task: (rp: RelyingParty, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
      return state.page.evaluate(
        ({ caseId, source, value }) => {
          const frame = document.querySelector<HTMLIFrameElement>(`iframe[name="${caseId}"]`);
          const rp = (frame?.contentWindow as unknown as { rp?: unknown } | null)?.rp;
          const run = new Function('rp', 'arg', `return (${source})(rp, arg);`) as (rp: unknown, a: unknown) => unknown;
          return run(rp, value);
        },
        { caseId, source: task.toString(), value: arg },
      ) as Promise<R>;
    },
  };
}
