/**
 * `npm run bench -- sign-in`: signing users in, side by side in real Chromium against one real OpenID provider
 * (oidc-provider 9 with refresh-token rotation, which revokes the grant when a spent refresh token comes back):
 * oidc-client-ts 3.5 as apps configure it to share the sign-in between tabs (its default renewal with refresh
 * tokens, the user in localStorage) vs shared-session's `oidcSession`. In each run one tab signs in through the
 * provider's login form (playwright types a user name and submits), the other tabs open after it, and every tab calls
 * the provider's API on a steady schedule while access tokens live 4 s. Counted by the provider from its own events:
 * refresh requests, reused refresh tokens, revoked grants, code exchanges; failed API calls counted by the pages.
 * A second baseline runs oidc-client-ts renewing at half the token's life. Runs alternate (A B C, then C B A).
 * Asserts nothing.
 */
import { launchChromium } from '../test/support/chromium.js';
import { startOpenIdProvider } from '../test/support/openid-provider.js';
import { describeMachine } from './lib/machine.js';
import { report, type Row } from './lib/pairs.js';
import { alternateRuns, failOnBundleErrors, type RunResult, scenario, scenarioText, signInRun, startAppServer } from './lib/sign-in-tabs.js';

const { tabs: TABS, accessTokenTtl: ACCESS_TOKEN_TTL, interval: CALL_INTERVAL, scope: SCOPE } = scenario;

/**
 * What runs side by side: oidc-client-ts as apps configure it (the pair's baseline), shared-session, and, for a reader
 * who asks whether the default is the problem, oidc-client-ts with its expiring notification at half the token's
 * life, the margin shared-session uses (a second baseline, in rows of its own).
 */
type Library = 'oidc-client-ts' | 'oidc-client-ts-tuned' | 'shared-session';
const LIBRARIES: readonly Library[] = ['oidc-client-ts', 'shared-session', 'oidc-client-ts-tuned'];
const BUNDLES: Record<Library, string> = {
  'oidc-client-ts': 'oidc-client-ts',
  'oidc-client-ts-tuned': 'oidc-client-ts',
  'shared-session': 'shared-session',
};

const app = await startAppServer();
const op = await startOpenIdProvider({
  clients: LIBRARIES.map((library) => ({ clientId: library, redirectUris: [app.pageUrl(library)], postLogoutRedirectUris: [app.pageUrl(library)] })),
  accessTokenTtl: ACCESS_TOKEN_TTL,
});

const bundleErrors = await app.addBundles(Object.fromEntries([...new Set(Object.values(BUNDLES))].map((bundle) => [bundle, `bench/fixtures/sign-in-${bundle}.ts`])));
for (const library of LIBRARIES) {
  const data: Record<string, string | number> = { issuer: op.issuer, client: library, api: op.apiUrl, scope: SCOPE };
  if (library === 'oidc-client-ts-tuned') data.expiring = ACCESS_TOKEN_TTL / 2;
  app.addPage(library, BUNDLES[library], data);
}

const browser = await launchChromium();
const { results, order } = await alternateRuns(
  LIBRARIES,
  (library) => bundleErrors[BUNDLES[library]] !== undefined,
  (library) => signInRun(browser, op, app.pageUrl(library)),
  (result) =>
    `${result.counts.refreshRequests} refresh requests, ${result.counts.reusedRefreshTokens} reused, ${result.counts.revokedGrants} revoked grants, ` +
    `${result.failed}/${result.calls} failed API calls, ${result.counts.codeExchanges} code exchanges, ${result.signedInTabs}/${TABS} tabs signed in`,
);
await browser.close();
await op.close();
app.close();

failOnBundleErrors(bundleErrors);

const label: Record<Library, string> = {
  'oidc-client-ts': 'oidc-client-ts 3.5 (user in localStorage)',
  'oidc-client-ts-tuned': `oidc-client-ts 3.5, renewal ${ACCESS_TOKEN_TTL / 2} s before expiry`,
  'shared-session': 'shared-session oidcSession',
};
const row = (
  id: string,
  figure: string,
  unit: string,
  pick: (result: RunResult) => number,
  goal?: { text: string; met: (values: number[]) => boolean },
  baseline: Library = 'oidc-client-ts',
): Row => {
  const ours = results['shared-session'].map(pick);
  return {
    id: `sign-in-${id}${baseline === 'oidc-client-ts' ? '' : '-tuned'}`,
    figure: `${figure}, ${scenarioText}${baseline === 'oidc-client-ts' ? '' : `; vs oidc-client-ts renewing ${ACCESS_TOKEN_TTL / 2} s before expiry`}`,
    unit,
    better: 'lower',
    count: true,
    ours: { label: label['shared-session'], values: ours },
    baseline: { label: label[baseline], values: results[baseline].map(pick) },
    ...(goal === undefined ? {} : { goal: goal.text, met: goal.met(ours) }),
  };
};
const none = { text: '0', met: (values: number[]): boolean => values.every((value) => value === 0) };
const one = { text: '1', met: (values: number[]): boolean => values.every((value) => value === 1) };
const firstErrors = [...new Set([...results['oidc-client-ts'], ...results['oidc-client-ts-tuned']].flatMap((result) => result.errors))].slice(0, 3);
report({
  bench: 'sign-in',
  title: 'shared-session: sign-in (authorization code + PKCE) in Chromium, side by side with oidc-client-ts',
  machine: { ...describeMachine(), chromium: browser.version() },
  rows: [
    row('refresh-requests', 'refresh requests', 'requests', (result) => result.counts.refreshRequests),
    row('reused-refresh-tokens', 'reused refresh tokens', 'tokens', (result) => result.counts.reusedRefreshTokens, none),
    row('revoked-grants', 'grants revoked by the provider', 'grants', (result) => result.counts.revokedGrants, none),
    row('failed-api-calls', `failed API calls (of ${TABS} tabs × one every ${CALL_INTERVAL} ms)`, 'calls', (result) => result.failed, none),
    row('code-exchanges', 'code exchanges (one tab signs in, the others open after it)', 'requests', (result) => result.counts.codeExchanges, one),
    row('refresh-requests', 'refresh requests', 'requests', (result) => result.counts.refreshRequests, undefined, 'oidc-client-ts-tuned'),
    row('reused-refresh-tokens', 'reused refresh tokens', 'tokens', (result) => result.counts.reusedRefreshTokens, none, 'oidc-client-ts-tuned'),
    row('revoked-grants', 'grants revoked by the provider', 'grants', (result) => result.counts.revokedGrants, none, 'oidc-client-ts-tuned'),
    row('failed-api-calls', `failed API calls (of ${TABS} tabs × one every ${CALL_INTERVAL} ms)`, 'calls', (result) => result.failed, none, 'oidc-client-ts-tuned'),
  ],
  samples: {
    'sign-in': Object.fromEntries(
      LIBRARIES.flatMap((library) => [
        [`${library}:refresh-requests`, results[library].map((result) => result.counts.refreshRequests)],
        [`${library}:reused-refresh-tokens`, results[library].map((result) => result.counts.reusedRefreshTokens)],
        [`${library}:revoked-grants`, results[library].map((result) => result.counts.revokedGrants)],
        [`${library}:failed-api-calls`, results[library].map((result) => result.failed)],
        [`${library}:code-exchanges`, results[library].map((result) => result.counts.codeExchanges)],
      ]),
    ),
  },
  notes: [
    `each run: a fresh browser context; one tab signs in through oidc-provider's login form, ${TABS - 1} more open after it; every tab calls the API every ${CALL_INTERVAL} ms; runs alternate (${order.join(', ')})`,
    `oidc-client-ts keeps its defaults but the localStorage userStore: accessTokenExpiringNotificationTimeInSeconds 60 is longer than a ${ACCESS_TOKEN_TTL} s token, so each tab renews about 1 s after each token it loads`,
    `the provider revoked the grant (the sign-in is dead in every tab) this long after the sign-in: ${LIBRARIES.map(
      (library) => `${library} ${results[library].map((result) => (result.revokedAfter === undefined ? 'never' : `${result.revokedAfter.toFixed(1)} s`)).join(', ')}`,
    ).join('; ')}; after it every refresh fails and oidc-client-ts stops renewing, which is why its refresh count is low`,
    `tabs signed in when the calls started (of ${TABS}): ${LIBRARIES.map((library) => `${library} ${results[library].map((result) => result.signedInTabs).join(', ')}`).join('; ')}`,
    ...(firstErrors.length > 0 ? [`oidc-client-ts reported: ${firstErrors.join('; ')}`] : []),
  ],
});
