import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { leaderOf, type LocalProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { Many } from '../support/local-worker.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { startProviderGrant } from '../support/provider-grant.js';

/**
 * localSharing (Node processes): refresh answers that arrive after their access tokens expired keep the grant. The
 * leader asks again with the late answer's refresh token (at most twice), and after three late answers in a row the
 * refresh token is kept by the leader and passed to every process with the (expired, never handed out) token, so
 * that whichever process leads next continues the rotation: against oidc-provider's reuse detection.
 */

const redirectUri = 'http://127.0.0.1:9/callback';
const LATE = { ttl: 1, delay: 1_500 } as const;
const TIMELY = { ttl: 60, delay: 0 } as const;
let op: OpenIdProvider;
let dir: string;
let members: LocalProcess[] = [];

beforeAll(async () => {
  op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [redirectUri] }], accessTokenTtl: 60 });
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'late-answer-')), 'rendezvous');
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

it('3 processes: three late answers in a row fail token_expired everywhere with the grant kept; the leader goes, the next continues: 0 reused, 0 revoked', async () => {
  const grant = await startProviderGrant(op, { clientId: 'web', redirectUri, scope: 'openid offline_access api' });
  members = await startProcesses(3, { tokenUrl: grant.tokenUrl, clientId: 'web', clientSecret: '', refreshToken: grant.refreshToken, dir });
  const grantLog = (): string => JSON.stringify(op.log.filter((entry) => entry.event.startsWith('grant')));

  op.planTokenAnswers([LATE, LATE, LATE]);
  const failed = await Promise.all(members.map((member) => member.request<Many>({ cmd: 'getMany', count: 2 })));
  for (const outcome of failed) expect(outcome).toMatchObject({ tokens: [], errors: ['token_expired', 'token_expired'] });
  expect(op.counts, grantLog()).toMatchObject({ refreshRequests: 3, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });

  // The leader goes: another process leads, with the refresh token the third late answer brought.
  const [leader] = await leaderOf(members);
  expect(leader).toBeDefined();
  await leader!.request({ cmd: 'close' }).catch(() => undefined);
  const rest = members.filter((member) => member !== leader);
  op.planTokenAnswers([LATE, TIMELY]);
  const served = await Promise.all(rest.map((member) => member.request<Many>({ cmd: 'getMany', count: 2 })));
  for (const outcome of served) expect(outcome.errors).toEqual([]);
  const handedOut = new Set(served.flatMap((outcome) => outcome.tokens));
  expect(handedOut.size).toBe(1);
  const [token] = handedOut;
  expect(await op.introspect(token!)).toMatchObject({ active: true });
  expect(op.counts, grantLog()).toMatchObject({ refreshRequests: 5, failedRefreshes: 0, reusedRefreshTokens: 0, revokedGrants: 0 });
});
