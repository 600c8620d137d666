import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type BusyProcess, startBusyProcess, stopBusyProcesses } from '../support/busy-local-fleet.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// docs (localSharing `answerTimeout`): "A rotating refresh token is never sent by the replacement while the silent
// leader may be using it: those callers fail with `timeout` instead." A follower that heard the leader say `busy`
// keeps it. A process that connected while the leader was stopped never heard anything — not `busy`, not even the
// `state` a leader sends on accept — and takes the silence for an idle leader: it replaces it and sends the refresh
// token the stopped leader is exchanging at that moment. A provider with reuse detection (Keycloak, Auth0, Okta)
// revokes the whole family; here the second exchange is answered `invalid_grant` and every process is signed out.

let tokens: TokenServer;
let dir: string;
let members: BusyProcess[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'review-rot-')), 'rendezvous');
});

afterAll(async () => {
  await tokens.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

beforeEach(() => tokens.reset());

afterEach(async () => {
  await stopBusyProcesses(members);
  members = [];
});

it('a leader stopped mid-rotation: a process started meanwhile does not send the refresh token being exchanged', async () => {
  const { id, secret } = tokens.addClient('review-rot');
  const refreshToken = tokens.issueRefreshToken(id);
  const config = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, refreshToken, dir };
  const leader = await startBusyProcess(config);
  members.push(leader);
  tokens.latency = 4_000;
  const first = leader.request({ cmd: 'getOne' });
  first.catch(() => undefined);
  await leader.waitFor((event) => event.event === 'fetching');
  await expect.poll(() => tokens.stats.tokenRequests).toBe(1);
  leader.kill('SIGSTOP'); // its refresh token is at the server, being exchanged
  const late = await startBusyProcess(config);
  members.push(late);
  const outcome = late.request<{ ms: number; error?: string; accessToken?: string }>({ cmd: 'getOne' });
  const answered = await outcome; // ≈ answerTimeout; the stop stays under the token request's 10 s attempt timeout
  leader.kill('SIGCONT');
  tokens.latency = 0;
  await first;
  // Observed: the late process replaced the stopped leader after ≈ 2 s and sent the same refresh token (1 reuse),
  // got `invalid_grant`, and signed every process out.
  expect(tokens.stats.refreshTokenReuse).toBe(0);
  expect(answered.error).not.toBe('invalid_grant');
  expect(answered.error).not.toBe('login_required');
}, 60_000);
