import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type LocalProcess, leaderOf, startProcess, stopProcesses } from '../support/local-fleet.js';
import type { LocalConfig, Many } from '../support/local-worker.js';
import { leaks, type Secret } from '../support/secrets.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The secrets scan of localSharing: every line each process wrote to the Unix socket (tapped in the process, so
// both directions are seen: every process writes what another reads), everything it wrote to stdout and stderr, its
// events, and the inspected errors (message, code, cause chain, details) its callers got — through token requests,
// failures relayed from the leader, a sign-out and a leader's SIGKILL. README: the client secret is never there; a
// refresh token only for `refreshTokenGrant`, and then only in the `refreshToken` member of a `state` or `token`
// message to this user's contexts.

let tokens: TokenServer;
let dir: string;
let members: LocalProcess[] = [];

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'local-secrets-')), 'rendezvous');
});
afterAll(async () => {
  await tokens.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});
afterEach(async () => {
  await stopProcesses(members);
  members = [];
  tokens.reset();
});

const start = async (config: LocalConfig): Promise<LocalProcess> => {
  const member = await startProcess(config, { LOCAL_TAP: '1' });
  members.push(member);
  return member;
};

interface Tapped {
  socket: string[];
  output: string[];
}

/** Every place of the scan, per process; `allowRefreshToken` strips the one member where README allows it. */
async function placesOf(processes: readonly LocalProcess[], answers: readonly Many[], allowRefreshToken: boolean): Promise<Record<string, string>> {
  const places: Record<string, string> = {};
  for (const [index, member] of processes.entries()) {
    places[`process ${index} events`] = JSON.stringify(member.events);
    if (!member.alive) continue;
    const tapped = await member.request<Tapped>({ cmd: 'tap' });
    places[`process ${index} output`] = tapped.output.join('');
    const lines = tapped.socket.join('').split('\n').filter(Boolean);
    places[`process ${index} socket lines`] = lines
      .map((line) => {
        if (!allowRefreshToken) return line;
        const message = JSON.parse(line) as { type?: string; refreshToken?: string };
        if (message.type === 'state' || message.type === 'token') delete message.refreshToken;
        return JSON.stringify(message);
      })
      .join('\n');
    places[`process ${index} socket line count`] = String(lines.length);
  }
  places['errors callers got'] = answers.flatMap((answer) => answer.inspected ?? []).join('\n');
  return places;
}

it('client credentials, with failures, a sign-out and a killed leader: the client secret is nowhere', async () => {
  const { id, secret } = tokens.addClient('local-scan-cc', 'local-scan-client-s3cr3t-value');
  const config: LocalConfig = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, dir, timeout: 5_000 };
  const processes = [await start(config), await start(config), await start(config)];
  const answers: Many[] = [];
  const ask = async (count = 5): Promise<void> => {
    for (const member of processes.filter((entry) => entry.alive)) answers.push(await member.request<Many>({ cmd: 'getMany', count }));
  };
  await ask();
  // A failing endpoint (relayed from the leader with its code and retryAfter), then an OAuth error.
  await processes[0]!.request({ cmd: 'clear' });
  tokens.failNext(4, 503);
  await ask(2);
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // past the remembered back-off
  tokens.failNext(1, 400, { body: JSON.stringify({ error: 'invalid_scope', error_description: 'no such scope' }) });
  await ask(2);
  await ask();
  // The leader dies; another takes over and is asked.
  const [leader] = await leaderOf(processes);
  leader!.kill('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await ask();
  // A process with a wrong secret (its own socket) fails with invalid_client.
  const wrong = await start({ ...config, clientSecret: 'local-scan-wrong-s3cr3t-value' });
  answers.push(await wrong.request<Many>({ cmd: 'getMany', count: 2 }));

  const places = await placesOf([...processes, wrong], answers, false);
  const codes = answers.flatMap((answer) => answer.errors);
  expect(codes).toEqual(expect.arrayContaining(['endpoint_unavailable', 'invalid_scope', 'invalid_client']));
  expect(Number(places['process 1 socket line count'])).toBeGreaterThan(3); // the tap saw the traffic
  const secrets: Secret[] = [
    { name: 'client secret', value: secret },
    { name: 'wrong client secret', value: 'local-scan-wrong-s3cr3t-value' },
  ];
  expect(leaks(places, secrets)).toEqual([]);
  // The scan finds what it looks for, in every form: the access tokens are there, and a planted secret would be.
  const planted = { form: `client_secret=${encodeURIComponent(secret)}`, header: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` };
  expect(leaks(planted, secrets.slice(0, 1))).toEqual(['client secret in form', 'client secret in header']);
  expect(places['process 1 socket lines']).toMatch(/at_[0-9a-f]{24}/);
});

it('refresh-token grant, rotating, then signed out: refresh tokens only in the refreshToken member of state and token messages', async () => {
  const { id, secret } = tokens.addClient('local-scan-rt', 'local-scan-rt-client-s3cr3t');
  tokens.lifetime = 2; // rotations every second with the 1 s margin
  const config: LocalConfig = { tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret, refreshToken: tokens.issueRefreshToken(id), dir, refreshBeforeExpiry: 1_000 };
  const processes = [await start(config), await start(config)];
  const answers: Many[] = [];
  for (let round = 0; round < 3; round++) {
    for (const member of processes) answers.push(await member.request<Many>({ cmd: 'getMany', count: 3 }));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  }
  await processes[1]!.request({ cmd: 'clear' });
  for (const member of processes) answers.push(await member.request<Many>({ cmd: 'getMany', count: 2 }));
  expect(answers.flatMap((answer) => answer.errors)).toContain('login_required');
  const refreshTokens = tokens.issuedRefreshTokens();
  expect(refreshTokens.length).toBeGreaterThan(2);

  const raw = await placesOf(processes, answers, false);
  // The refresh token travels (a new leader must continue the rotation)…
  expect(refreshTokens.some((token) => raw['process 0 socket lines']!.includes(token) || raw['process 1 socket lines']!.includes(token))).toBe(true);
  // …but only there, and never the client secret.
  const places = await placesOf(processes, answers, true);
  const secrets: Secret[] = [{ name: 'client secret', value: secret }, ...refreshTokens.map((value, index) => ({ name: `refresh token ${index}`, value }))];
  expect(leaks(places, secrets)).toEqual([]);
});
