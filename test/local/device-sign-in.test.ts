import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import type { DeviceAnswer, DeviceConfig, DeviceEvent, DeviceRequest } from '../support/device-worker.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';
import { forkTestProcess, stopTestProcesses, type TestProcess } from '../support/test-process.js';

// One device sign-in for every process of a batch job (localSharing), and for every later run (the stored refresh
// token): real processes, a real oidc-provider, the person approving through its own pages.

type Command = DeviceRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
type Member = TestProcess<DeviceEvent, Command>;

const script = path.resolve(import.meta.dirname, '../support/device-worker.mjs');
const clientId = 'device-batch';
let provider: OpenIdProvider;
let home: string;
let config: DeviceConfig;
let members: Member[] = [];

beforeAll(async () => {
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true });
  home = mkdtempSync(path.join(tmpdir(), 'device-batch-'));
});

afterAll(async () => {
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});

let run = 0;
beforeEach(() => {
  provider.reset();
  run++;
  config = { issuer: provider.issuer, clientId, file: path.join(home, `config-${run}`, 'token.json'), dir: path.join(home, `s${run}`) };
});

afterEach(async () => {
  await stopTestProcesses(members);
  members = [];
});

async function start(count: number): Promise<Member[]> {
  const started = await Promise.all(
    Array.from({ length: count }, () => forkTestProcess<DeviceEvent, Command>(script, { DEVICE_WORKER: JSON.stringify(config) }, { plain: true })),
  );
  members.push(...started);
  return started;
}

const prompts = (of: readonly Member[]) => of.flatMap((member) => member.events.filter((event) => event.event === 'prompt'));

async function approveTheOnePrompt(of: readonly Member[], login: string): Promise<void> {
  await expect.poll(() => prompts(of).length, { timeout: 15_000 }).toBeGreaterThan(0);
  const prompt = prompts(of)[0] as Extract<DeviceEvent, { event: 'prompt' }>;
  await approveDeviceSignIn(prompt.verificationUri, prompt.userCode, { login });
}

it('8 processes signing in before the approval get one token: 1 device authorization, 1 device grant, 0 refreshes; a later run prompts 0 times', async () => {
  const batch = await start(8);
  const answers = Promise.all(batch.map((member) => member.request<DeviceAnswer>({ cmd: 'signIn' })));
  await approveTheOnePrompt(batch, 'alice');
  const tokens = await answers;
  const accessTokens = new Set(tokens.map((answer) => ('accessToken' in answer ? answer.accessToken : `error ${answer.code}: ${answer.message}`)));
  expect([...accessTokens]).toHaveLength(1);
  expect(await provider.introspect([...accessTokens][0]!)).toMatchObject({ active: true, sub: 'alice' });
  expect(prompts(batch)).toHaveLength(1);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, refreshRequests: 0 });
  expect(existsSync(config.file)).toBe(true);
  await stopTestProcesses(batch);

  // The next run of the job: the stored refresh token, no prompt, one refresh for all its processes.
  const later = await start(3);
  const again = await Promise.all(later.map((member) => member.request<DeviceAnswer>({ cmd: 'signIn' })));
  expect(again.every((answer) => 'accessToken' in answer)).toBe(true);
  expect(new Set(again.map((answer) => (answer as { accessToken: string }).accessToken)).size).toBe(1);
  expect(prompts(later)).toHaveLength(0);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, refreshRequests: 1, reusedRefreshTokens: 0 });
}, 90_000);

it('signOut in one process revokes, deletes the stored token and reaches every process', async () => {
  const batch = await start(3);
  const answers = Promise.all(batch.map((member) => member.request<DeviceAnswer>({ cmd: 'signIn' })));
  await approveTheOnePrompt(batch, 'bob');
  await answers;
  expect(await batch[2]!.request<{ ok: boolean }>({ cmd: 'signOut' })).toMatchObject({ ok: true });
  expect(provider.counts.revocations).toBe(1);
  expect(existsSync(config.file)).toBe(false);
  for (const member of batch.slice(0, 2)) {
    await member.waitFor((event) => event.event === 'cleared', 0, 10_000);
    expect(await member.request<DeviceAnswer>({ cmd: 'getToken' })).toMatchObject({ code: 'login_required' });
  }
  expect(provider.counts.refreshRequests).toBe(0);
}, 60_000);

it('a leader killed mid-refresh (after the provider rotated, before it wrote the new token) costs at most 1 reused refresh token, then a clean sign-out, never a loop', async () => {
  const batch = await start(4);
  const answers = Promise.all(batch.map((member) => member.request<DeviceAnswer>({ cmd: 'signIn' })));
  await approveTheOnePrompt(batch, 'carol');
  await answers;
  const leaders = [];
  for (const member of batch) if ((await member.request<{ leading: boolean }>({ cmd: 'status' })).leading) leaders.push(member);
  expect(leaders).toHaveLength(1);
  const leader = leaders[0]!;
  const others = batch.filter((member) => member !== leader);
  // The provider answers the refresh only after it has rotated and 2 s have passed: the leader is killed in between.
  provider.responseLatency = 2_000;
  const forced = others[0]!.request<DeviceAnswer>({ cmd: 'getToken', forceRefresh: true });
  await expect.poll(() => provider.counts.refreshRequests, { timeout: 10_000 }).toBe(1);
  leader.kill('SIGKILL');
  provider.responseLatency = 0;
  const outcome = await forced;
  expect(outcome).toMatchObject({ code: expect.stringMatching(/^(invalid_grant|login_required)$/) });
  for (const member of others) {
    await member.waitFor((event) => event.event === 'cleared', 0, 10_000);
    expect(await member.request<DeviceAnswer>({ cmd: 'getToken' })).toMatchObject({ code: 'login_required' });
    expect(await member.request<DeviceAnswer>({ cmd: 'getToken', forceRefresh: true })).toMatchObject({ code: 'login_required' });
  }
  expect(provider.counts.reusedRefreshTokens).toBeLessThanOrEqual(1);
  const settled = provider.counts.refreshRequests;
  expect(settled).toBeLessThanOrEqual(2);
  // The dead refresh token is not left for the next run.
  expect(existsSync(config.file)).toBe(false);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(provider.counts.refreshRequests).toBe(settled);
}, 60_000);
