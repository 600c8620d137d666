/**
 * `npm run bench -- dpop-sign-in`: signing users in with DPoP (RFC 9449, issue 25), side by side in real Chromium
 * against one real OpenID provider — oidc-provider 9 with DPoP required of every client (bound access and refresh
 * tokens), nonces required at the token endpoint and at the API, refresh-token rotation that revokes the grant when a
 * spent refresh token comes back, and the strict proof-validating API of test/support/dpop-api.ts. The provider has
 * Auth0's shape (`/authorize`, `/oauth/token`, the issuer with a slash), which auth0-spa-js needs and the others find
 * through discovery. Side by side: shared-session's `oidcSession({ dpop: true })`, oidc-client-ts 3.5 with its `dpop`
 * setting and auth0-spa-js 2.28 with `useDpop: true`, each as apps configure it to share the sign-in between tabs,
 * in the sign-in bench's scenario (bench/lib/sign-in-tabs.ts: one tab signs in through the login form, the others
 * open after it, every tab calls the API every 500 ms while access tokens live 4 s). Counted by the provider: the
 * DPoP keys its endpoints saw (distinct `jkt`), nonce round trips (`use_dpop_nonce` answers of the token endpoint and
 * the API), refresh requests, reused refresh tokens, revoked grants, code exchanges; failed API calls counted by the
 * pages. Runs alternate (A B C, then C B A). Asserts nothing.
 */
import { launchChromium } from '../test/support/chromium.js';
import { startOpenIdProvider } from '../test/support/openid-provider.js';
import { describeMachine } from './lib/machine.js';
import { report, type Row } from './lib/pairs.js';
import { alternateRuns, failOnBundleErrors, type RunResult, scenario, scenarioText, signInRun, startAppServer } from './lib/sign-in-tabs.js';

type Library = 'shared-session' | 'oidc-client-ts' | 'auth0-spa-js';
const LIBRARIES: readonly Library[] = ['oidc-client-ts', 'shared-session', 'auth0-spa-js'];
const BASELINES = ['oidc-client-ts', 'auth0-spa-js'] as const;
const label: Record<Library, string> = {
  'shared-session': 'shared-session oidcSession({ dpop: true })',
  'oidc-client-ts': 'oidc-client-ts 3.5, dpop (IndexedDbDPoPStore)',
  'auth0-spa-js': 'auth0-spa-js 2.28, useDpop',
};

const app = await startAppServer();
const op = await startOpenIdProvider({
  clients: LIBRARIES.map((library) => ({ clientId: library, redirectUris: [app.pageUrl(library)], postLogoutRedirectUris: [app.pageUrl(library)] })),
  accessTokenTtl: scenario.accessTokenTtl,
  dpop: true,
  auth0Shape: true,
});
const bundleErrors = await app.addBundles(Object.fromEntries(LIBRARIES.map((library) => [library, `bench/fixtures/sign-in-${library}.ts`])));
for (const library of LIBRARIES) app.addPage(library, library, { issuer: op.issuer, client: library, api: op.apiUrl, scope: scenario.scope, dpop: 'on' });

const browser = await launchChromium();
const { results, order } = await alternateRuns(
  LIBRARIES,
  (library) => bundleErrors[library] !== undefined,
  (library) =>
    signInRun(browser, op, app.pageUrl(library), () => {
      op.apiNonce = true;
    }),
  (result) =>
    `${result.dpopKeys} DPoP keys, ${nonceRoundTrips(result)} nonce round trips, ${result.counts.refreshRequests} refresh requests, ` +
    `${result.counts.reusedRefreshTokens} reused, ${result.counts.revokedGrants} revoked grants, ${result.failed}/${result.calls} failed API calls, ` +
    `${result.counts.codeExchanges} code exchanges, ${result.signedInTabs}/${scenario.tabs} tabs signed in`,
);
await browser.close();
await op.close();
app.close();

failOnBundleErrors(bundleErrors);

function nonceRoundTrips(result: RunResult): number {
  return result.counts.dpopNonceChallenges + result.counts.apiNonceChallenges;
}

interface Figure {
  readonly id: string;
  readonly figure: string;
  readonly unit: string;
  readonly pick: (result: RunResult) => number;
  /** The issue's goal for shared-session, when it states one. */
  readonly goal?: number;
}
const FIGURES: readonly Figure[] = [
  { id: 'dpop-keys', figure: 'DPoP keys (distinct jkt seen by the token endpoint and the API)', unit: 'keys', pick: (result) => result.dpopKeys, goal: 1 },
  { id: 'nonce-round-trips', figure: 'nonce round trips (use_dpop_nonce answers of the token endpoint and the API)', unit: 'requests', pick: nonceRoundTrips },
  { id: 'refresh-requests', figure: 'refresh requests', unit: 'requests', pick: (result) => result.counts.refreshRequests },
  { id: 'reused-refresh-tokens', figure: 'reused refresh tokens', unit: 'tokens', pick: (result) => result.counts.reusedRefreshTokens, goal: 0 },
  { id: 'revoked-grants', figure: 'grants revoked by the provider', unit: 'grants', pick: (result) => result.counts.revokedGrants, goal: 0 },
  {
    id: 'failed-api-calls',
    figure: `failed API calls (of ${scenario.tabs} tabs × one every ${scenario.interval} ms)`,
    unit: 'calls',
    pick: (result) => result.failed,
    goal: 0,
  },
  { id: 'code-exchanges', figure: 'code exchanges (one tab signs in, the others open after it)', unit: 'requests', pick: (result) => result.counts.codeExchanges, goal: 1 },
];
const row = (figure: Figure, baseline: (typeof BASELINES)[number]): Row => {
  const ours = results['shared-session'].map(figure.pick);
  return {
    id: `dpop-sign-in-${figure.id}-vs-${baseline}`,
    figure: `${figure.figure}, ${scenarioText}; vs ${baseline}`,
    unit: figure.unit,
    better: 'lower',
    count: true,
    ours: { label: label['shared-session'], values: ours },
    baseline: { label: label[baseline], values: results[baseline].map(figure.pick) },
    ...(figure.goal === undefined ? {} : { goal: String(figure.goal), met: ours.every((value) => value === figure.goal) }),
  };
};
/** `reason ×n, …` summed over the library's runs, or `none`. */
function refusals(library: Library): string {
  const sums = new Map<string, number>();
  for (const result of results[library]) for (const [reason, count] of Object.entries(result.refusals)) sums.set(reason, (sums.get(reason) ?? 0) + count);
  return sums.size === 0 ? 'none' : [...sums].map(([reason, count]) => `${reason} ×${count}`).join(', ');
}
const firstErrors = (library: Library): string[] => [...new Set(results[library].flatMap((result) => result.errors))].slice(0, 3);
report({
  bench: 'dpop-sign-in',
  title: 'shared-session: DPoP sign-in in Chromium, side by side with the DPoP modes of oidc-client-ts and auth0-spa-js',
  machine: { ...describeMachine(), chromium: browser.version() },
  rows: BASELINES.flatMap((baseline) => FIGURES.map((figure) => row(figure, baseline))),
  samples: {
    'dpop-sign-in': Object.fromEntries(LIBRARIES.flatMap((library) => FIGURES.map((figure) => [`${library}:${figure.id}`, results[library].map(figure.pick)]))),
  },
  notes: [
    `each run: a fresh browser context; one tab signs in through oidc-provider's login form, ${scenario.tabs - 1} more open after it; every tab calls the API every ${scenario.interval} ms; the provider requires DPoP and a nonce at the token endpoint and at the API; runs alternate (${order.join(', ')})`,
    'oidc-client-ts signs its token requests but not API calls: its page signs them with `UserManager.dpopProof` and answers the API nonce itself, per tab; auth0-spa-js calls the API through its `createFetcher().fetchWithAuth()`; shared-session through `fetchWithToken`',
    `the provider revoked the grant this long after the sign-in: ${LIBRARIES.map(
      (library) => `${library} ${results[library].map((result) => (result.revokedAfter === undefined ? 'never' : `${result.revokedAfter.toFixed(1)} s`)).join(', ')}`,
    ).join('; ')}`,
    `tabs signed in when the calls started (of ${scenario.tabs}): ${LIBRARIES.map((library) => `${library} ${results[library].map((result) => result.signedInTabs).join(', ')}`).join('; ')}`,
    `nonce round trips, token endpoint + API, per run: ${LIBRARIES.map(
      (library) => `${library} ${results[library].map((result) => `${result.counts.dpopNonceChallenges} + ${result.counts.apiNonceChallenges}`).join(', ')}`,
    ).join('; ')}; the API checks the nonce of a proof only once the token is live and bound to its key`,
    `requests the provider refused, by reason, over all runs: ${LIBRARIES.map((library) => `${library}: ${refusals(library)}`).join('; ')}`,
    ...LIBRARIES.flatMap((library) => (firstErrors(library).length > 0 ? [`${library} reported: ${firstErrors(library).join('; ')}`] : [])),
  ],
});
