import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import { loadavg } from 'node:os';
import { afterAll, beforeAll, it } from 'vitest';
import type { ApiCallRecord } from '../browser/fixtures/oidc-app.js';
import type { OidcWorkerAnswer } from '../browser/fixtures/oidc-worker.js';
import { judgeCalls, jtiOf, type ContextCall } from '../support/dpop-calls.js';
import { type Engine, type EnginePage, launchEngine } from '../support/engines/index.js';
import { inApp, openApp, openApps, START_REPORTING_WORKER, UNTIL_NO_ROTATION, until, userSignsIn } from '../support/engines/oidc-app.js';
import { threadNames } from '../support/engines/processes.js';
import { describeEngines, report } from '../support/engines/suite.js';
import { type OidcAppServer, startOidcApp } from '../support/oidc-app.js';

/**
 * Issue 25's tab scenario with the leader killed, in Firefox ESR and WebKitGTK (Chromium:
 * test/browser/dpop-tabs-leader-killed.test.ts): 8 tabs, a dedicated worker and the service worker signed in with
 * DPoP, 30 s of 4 s tokens, and midway the leading page's content/web process killed with SIGKILL (as an
 * out-of-memory kill would: no unload handler runs) → 1 code exchange, one key, 0 reused refresh tokens, 0 revoked
 * grants, 0 failed refreshes, 0 replayed `jti`, 1 nonce challenge of the token endpoint, 0 failed API calls.
 *
 * WebKitWebDriver deletes its whole session when any page's web process dies ("session deleted because of page crash
 * or hang"), while MiniBrowser and its other pages run on. So nothing after the kill goes through the driver, in
 * either engine: every tab and worker posts each call's record (when the session handed the token out, the proof's
 * `jti`, the answer, whether it leads) to the app server's `/report`, and the test judges those records against the
 * API's own (test/support/dpop-calls.ts: a token handed out at or after its `exp` fails; a refusal is excused only
 * when the token expired while the loaded machine held the call in flight).
 */
const RUN = 30_000;
const TABS = 8;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
type Reported = { context: string; leader?: boolean; unanswered?: true; overdue?: true; askedAt?: number } & ApiCallRecord & Partial<OidcWorkerAnswer>;
/** The stored token's age (ms) below which the next rotation is still ahead: a quarter of the 4 s lifetime, refreshed at half. */
const FRESH = 1_000;
/** How long a tab waits for the service worker's answer before it asks again (ms). */
const SERVICE_WORKER_ANSWER_WITHIN = 4_000;

describeEngines(['firefox', 'webkit'] as const, (name) => {
  const state = {} as { engine: Engine; app: OidcAppServer };
  beforeAll(async () => {
    [state.app, state.engine] = await Promise.all([startOidcApp({ dpop: true }), launchEngine(name)]);
  }, 90_000);
  afterAll(async () => {
    await state.engine?.close();
    await state.app?.close();
  }, 60_000);

  it(`${TABS} tabs, a dedicated worker and the service worker, 30 s of 4 s DPoP tokens with the leader's process killed midway: 1 code exchange, one key, 0 reused refresh tokens, 0 revoked grants, 0 failed calls, 0 replayed jti, 1 nonce challenge`, async ({ expect }) => {
    const { app, engine } = state;
    const loadAtStart = loadavg()[0]!;
    app.reset();
    app.config = { ...app.config, dpop: true };
    const first = await openApp(engine, app.appUrl);
    expect(first.ready).toBe('ok');
    expect(await userSignsIn(first.page, 'ada.lovelace')).toBe('ok');
    const tabs: EnginePage[] = [first.page];
    for (const opened of await openApps(engine, app.appUrl, TABS - 1)) {
      expect(opened.ready).toBe('ok');
      tabs.push(opened.page);
    }
    // (A hang guard only: a tab opened after the sign-in reads it from IndexedDB or is told by message.)
    for (const [index, tab] of tabs.entries()) {
      await until(tab, 'globalThis.app.session.signedIn').catch(async (error: unknown) => {
        // What that tab went through (its session's events), and the provider's side, for the failure message.
        const log = await inApp(tab, (harness) => harness.log).catch(String);
        throw new Error(`tab ${index}: ${String(error)}: ${JSON.stringify({ log, provider: app.op.log.filter((entry) => !entry.event.startsWith('api.')) })}`);
      });
    }
    const { issuer, clientId, scope, apiUrl } = app.config;
    const url = `/oidc-worker.js?${new URLSearchParams({ issuer, clientId, scope, apiUrl, dpop: '' })}`;
    // The dedicated worker lives in tab 1 (and dies with it); the service worker is asked from tabs 2 and 3, so that
    // it goes on being asked whichever tab is killed.
    const workerHost = 1;
    await tabs[workerHost]!.evaluate(START_REPORTING_WORKER, { url, kind: 'worker', name: 'dedicated worker', pause: 500 });
    // A question to a service worker killed with the leader's process is never answered: given up after 4 s, it is
    // asked again (the browser starts the worker anew), well within the 15 s left after the kill.
    for (const host of [2, 3]) {
      await tabs[host]!.evaluate(START_REPORTING_WORKER, { url, kind: 'service', name: 'service worker', pause: 1_000, answerWithin: SERVICE_WORKER_ANSWER_WITHIN });
    }
    const started = Date.now();
    for (const [index, tab] of tabs.entries()) await inApp(tab, (harness, label) => harness.startCalls(300, label, true), `tab ${index}`);

    // Midway: the leading context's process is killed. The dedicated worker is killed with the tab it lives in.
    await sleep(RUN / 2 - (Date.now() - started));
    const tabLeaders: boolean[] = [];
    for (const tab of tabs) tabLeaders.push(await inApp(tab, (harness) => harness.state().leader));
    const latest = (context: string): Reported | undefined => (app.reports as Reported[]).filter((entry) => entry.context === context).at(-1);
    const workerLeads = latest('dedicated worker')?.leader === true;
    expect(latest('service worker')?.leader, 'the service worker leads: this test cannot kill it alone').not.toBe(true);
    const leader = workerLeads ? workerHost : tabLeaders.indexOf(true);
    expect(leader, `no context leads: ${JSON.stringify(tabLeaders)}`).toBeGreaterThanOrEqual(0);
    // Killed between two rotations: a kill between sending the refresh token and storing the answer loses the grant
    // by design (every context signed out, the spent refresh token never sent again: test/browser/lost-rotation.test.ts),
    // which is not what this run measures. Read by another tab from the record every context reads.
    const reader = tabs[leader === 0 ? 2 : 0]!;
    const key = await inApp(tabs[leader]!, (harness) => harness.session.key);
    const tokenAge = await reader.evaluate<number, object>(UNTIL_NO_ROTATION, { key, fresh: FRESH, within: 15_000 });
    // What else runs in the process killed: the dedicated worker when its tab leads, and the service worker if the
    // engine runs it there (WebKit names its thread ": ServiceWorker"; Firefox's workers are all "DOM Worker" threads).
    const threads = threadNames(tabs[leader]!.pid!);
    const workerThreads = threads.filter((thread) => thread === 'DOM Worker').length;
    const serviceWorkerKilled = threads.includes(': ServiceWorker') || workerThreads > (leader === workerHost ? 1 : 0);
    const logAtKill = app.op.log.length;
    const killedAt = Date.now();
    await tabs[leader]!.crash();

    await sleep(Math.max(0, RUN - (Date.now() - started)));
    // What the API had judged and what the contexts had reported by now (a call still in flight is judged from the
    // API's side: see judgeCalls).
    const all = [...(app.reports as Reported[])];
    // A question the worker never answered: only the service worker's, asked before the kill, if it ran in the process
    // killed (its answer went with it; asked again, the browser started it anew).
    const unanswered = all.filter((entry) => entry.unanswered === true);
    const reports = all.filter((entry) => entry.unanswered !== true);
    const requests = [...app.op.apiRequests];
    const counts = { ...app.op.counts };
    const loadAtEnd = loadavg()[0]!;
    const calls: ContextCall[] = reports.map((entry) => ({
      context: entry.context,
      handedOutAt: entry.handedOutAt,
      jti: entry.jti ?? (entry.proof === undefined ? undefined : jtiOf(entry.proof)),
      status: entry.status,
      error: entry.error === undefined ? undefined : `${entry.error} ${entry.failedAt === undefined ? '' : `${entry.failedAt - killedAt} ms after the kill`}`,
    }));
    const judged = judgeCalls(calls, requests);
    const timeline = JSON.stringify({ leader, workerLeads, log: app.op.log.filter((entry) => !entry.event.startsWith('api.')) });
    report(
      name,
      'DPoP leader killed',
      `load ${loadAtStart.toFixed(1)}→${loadAtEnd.toFixed(1)}, leader ${workerLeads ? 'dedicated worker' : `tab ${leader}`} killed, ${calls.length} calls reported, ` +
        `${judged.accepted} accepted, ${judged.expiredInFlight.length} expired in flight ${JSON.stringify(judged.expiredInFlight)}, ` +
        `killed ${tokenAge} ms after the last rotation, service worker ${serviceWorkerKilled ? 'killed with it' : 'elsewhere'}, ${unanswered.length} unanswered, ` +
        `counts ${JSON.stringify(counts)}`,
    );

    expect(judged.failures, timeline).toEqual([]);
    // A question given up is excused when it was answered after all (slow, not lost: the call is judged with the
    // others), or when the service worker was killed and the question was asked before the worker the browser started
    // anew answered one: until then a question can reach the worker that died (asked after the kill, before the browser
    // saw it dead), and none is answered.
    const answeredLate = (entry: Reported): boolean => reports.some((each) => each.overdue === true && each.context === entry.context && each.askedAt === entry.askedAt);
    const restartedWorkerAsked = Math.min(...reports.filter((entry) => entry.context === 'service worker' && entry.askedAt! > killedAt).map((entry) => entry.askedAt!));
    const lostWithWorker = (entry: Reported): boolean => entry.context === 'service worker' && serviceWorkerKilled && entry.askedAt! < restartedWorkerAsked;
    const excused = (entry: Reported): boolean => answeredLate(entry) || lostWithWorker(entry);
    expect(unanswered.filter((entry) => !excused(entry)), timeline).toEqual([]);
    // Every surviving tab and the service worker kept calling after the kill, and were accepted.
    const acceptedAfterKill = (context: string): number => reports.filter((entry) => entry.context === context && entry.status === 200 && entry.handedOutAt! > killedAt).length;
    for (const index of tabs.keys()) if (index !== leader) expect(acceptedAfterKill(`tab ${index}`), `tab ${index}`).toBeGreaterThan(0);
    // (What the service worker answered around the kill, in ms from it, for the failure message.)
    const serviceWorkerAroundKill = all
      .filter((entry) => entry.context === 'service worker' && (entry.askedAt ?? 0) > killedAt - 5_000)
      .map(({ askedAt, handedOutAt, status, error, unanswered: lost, overdue }) => ({ asked: askedAt! - killedAt, handedOut: handedOutAt && handedOutAt - killedAt, status, error, lost, overdue }));
    expect(acceptedAfterKill('service worker'), JSON.stringify({ serviceWorkerKilled, threads, serviceWorkerAroundKill })).toBeGreaterThan(0);
    const workers = reports.filter((entry) => entry.context.endsWith('worker'));
    for (const answer of workers) expect(answer).toMatchObject({ signedIn: true, proof: expect.any(String) });
    expect(reports.some((entry) => entry.context === 'dedicated worker' && entry.status === 200)).toBe(true);
    // Someone took over: refreshes went on after the kill.
    expect(app.op.log.slice(logAtKill).filter((entry) => entry.event === 'grant.success' && entry.detail === 'refresh_token').length, timeline).toBeGreaterThan(0);

    // One key: in every proof the provider and the API received, and in the workers'.
    const keys = [...app.op.dpopKeys.keys()];
    expect(keys).toHaveLength(1);
    const jkts = new Set(await Promise.all(workers.map((answer) => calculateJwkThumbprint(decodeProtectedHeader(answer.proof!).jwk as JWK))));
    expect([...jkts]).toEqual(keys);

    expect(counts.refreshRequests, timeline).toBeGreaterThanOrEqual(2);
    expect(counts, timeline).toMatchObject({
      codeExchanges: 1,
      reusedRefreshTokens: 0,
      revokedGrants: 0,
      failedRefreshes: 0,
      replayedProofs: 0,
      // Every 401 of the API is one of the calls judged "expired in flight": none else.
      failedApiCalls: judged.expiredInFlight.length,
      dpopNonceChallenges: 1,
    });
  }, 240_000);
});
