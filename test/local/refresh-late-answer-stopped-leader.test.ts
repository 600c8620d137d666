import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type BusyProcess, startBusyProcess, stopBusyProcesses } from '../support/busy-local-fleet.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule: a refresh token is never sent twice. A localSharing leader stopped (SIGSTOP) during its refresh, longer
// than the attempt timeout: when it wakes, its timers run before the answer waiting in its socket is read. Before the
// late-answer window, the attempt timed out and the retry sent the rotated-away refresh token (1 reuse). Now the
// request is waited on (its answer is read, its rotation kept), and a stop longer than the window itself gets a short
// grace, so the answer that came meanwhile is still read. The process that asked meanwhile is never signed out.

let tokens: TokenServer;
let dir: string;
let members: BusyProcess[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'late-answer-')), 'rendezvous');
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

type GetOne = { ms: number; error?: string; accessToken?: string };

const stops = [
  { what: 'longer than the attempt timeout', stop: 3_000, attemptTimeout: 1_000, lateAnswerWindow: undefined },
  { what: 'longer than the late-answer window', stop: 4_000, attemptTimeout: 500, lateAnswerWindow: 1_500 },
];

for (const { what, stop, attemptTimeout, lateAnswerWindow } of stops) {
  it(`a leader stopped during its refresh ${what}, then resumed: the answer is kept, the refresh token sent once`, async () => {
    const { id, secret } = tokens.addClient(`late-answer-${stop}`);
    const refreshToken = tokens.issueRefreshToken(id);
    const config = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, refreshToken, dir: `${dir}-${stop}`, attemptTimeout, ...(lateAnswerWindow === undefined ? {} : { lateAnswerWindow }) };
    const leader = await startBusyProcess(config);
    members.push(leader);
    const follower = await startBusyProcess(config);
    members.push(follower);
    tokens.latency = 300;
    const first = leader.request<GetOne>({ cmd: 'getOne' });
    await expect.poll(() => tokens.stats.tokenRequests).toBe(1);
    leader.kill('SIGSTOP'); // its refresh token is at the server, which answers while the leader is stopped
    const meanwhile = await follower.request<GetOne>({ cmd: 'getOne' });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stop - meanwhile.ms)));
    leader.kill('SIGCONT');
    const answered = await first;
    const after = await follower.request<GetOne>({ cmd: 'getOne' });
    expect({ reused: tokens.stats.refreshTokenReuse, sent: tokens.stats.tokenRequests }).toEqual({ reused: 0, sent: 1 });
    expect(answered.error).toBeUndefined();
    expect(tokens.isValid(answered.accessToken!)).toBe(true);
    // Asked while the leader was stopped: bounded, and never signed out.
    expect(meanwhile.error === undefined || !['invalid_grant', 'login_required'].includes(meanwhile.error)).toBe(true);
    expect(after.accessToken).toBe(answered.accessToken);
  }, 60_000);
}
