import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { leaderOf, type LocalProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { Many } from '../support/local-worker.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { startProviderGrant } from '../support/provider-grant.js';

/**
 * localSharing: late answers cost at most 2 more requests per chain (SessionCore.fetchToken). A process that asks
 * the leader while the leader's last late retry is on its way joins that request and gets its dead token: it must
 * fail `token_expired` (as the browser leader answers), not ask again and make the leader start a second chain.
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const LATE = { ttl: 1, delay: 1_500 } as const;
let op: OpenIdProvider;
let dir: string;
let members: LocalProcess[] = [];

beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'review-late-follower-')), 'rendezvous');
});
afterAll(async () => {
  await op.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});
beforeEach(() => op.reset());
afterEach(async () => {
  await stopProcesses(members);
  members = [];
});

it('a follower asking during the last late retry: token_expired, 3 requests in all, nothing reused', async () => {
  const grant = await startProviderGrant(op, { clientId: 'web', redirectUri, scope: 'openid offline_access api' });
  members = await startProcesses(2, { tokenUrl: grant.tokenUrl, clientId: 'web', clientSecret: '', refreshToken: grant.refreshToken, dir });
  const [leader] = await leaderOf(members);
  expect(leader).toBeDefined();
  const follower = members.find((member) => member !== leader)!;
  op.planTokenAnswers([LATE, LATE, LATE, LATE, LATE, LATE]);
  const first = leader!.request<Many>({ cmd: 'getMany', count: 1 });
  await expect.poll(() => op.counts.refreshRequests, { timeout: 20_000, interval: 20 }).toBe(3);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const joined = follower.request<Many>({ cmd: 'getMany', count: 1 });
  const outcomes = await Promise.all([first, joined]);
  for (const outcome of outcomes) expect(outcome).toMatchObject({ tokens: [], errors: ['token_expired'] });
  expect(op.counts).toMatchObject({ refreshRequests: 3, reusedRefreshTokens: 0, revokedGrants: 0 });
}, 60_000);
