import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import type { DeviceAnswer, DeviceConfig, DeviceEvent, DeviceRequest } from '../support/device-worker.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';
import { forkTestProcess, stopTestProcesses, type TestProcess } from '../support/test-process.js';

// The device prompt shows in the process whose signIn() asked, not in whichever process leads the shared session:
// a `shared-session login` beside a running batch shows the code in its own terminal. The leader sends the prompt's
// public fields to the asker over the local link (a `prompt` message), never the device code.

type Command = DeviceRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
type Member = TestProcess<DeviceEvent, Command>;

const script = path.resolve(import.meta.dirname, '../support/device-worker.mjs');
const clientId = 'device-prompt';
let provider: OpenIdProvider;
let home: string;
let members: Member[] = [];

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1, accessTokenTtl: 3600 });
  home = mkdtempSync(path.join(tmpdir(), 'device-prompt-'));
});
afterAll(async () => {
  await provider.close();
  rmSync(home, { recursive: true, force: true });
});
afterEach(async () => {
  await stopTestProcesses(members);
  members = [];
});

const prompts = (member: Member) => member.events.filter((event): event is Extract<DeviceEvent, { event: 'prompt' }> => event.event === 'prompt');

async function start(config: DeviceConfig): Promise<Member> {
  const member = await forkTestProcess<DeviceEvent, Command>(script, { DEVICE_WORKER: JSON.stringify(config) }, { plain: true });
  members.push(member);
  return member;
}

async function leading(member: Member): Promise<boolean> {
  return (await member.request<{ leading: boolean }>({ cmd: 'status' })).leading;
}

it('the non-leader calls signIn: its onPrompt fires, the leader\'s does not; both get the one token', async () => {
  const config: DeviceConfig = { issuer: provider.issuer, clientId, file: path.join(home, 'config', 'token.json'), dir: path.join(home, 's') };
  const leader = await start(config);
  // Nobody signed in: the first process to ask leads.
  expect(await leader.request<DeviceAnswer>({ cmd: 'getToken' })).toMatchObject({ code: 'login_required' });
  await expect.poll(() => leading(leader), { timeout: 15_000 }).toBe(true);
  const asker = await start(config);
  expect(await asker.request<DeviceAnswer>({ cmd: 'getToken' })).toMatchObject({ code: 'login_required' });
  expect(await leading(asker)).toBe(false);

  const signedIn = asker.request<DeviceAnswer>({ cmd: 'signIn' });
  await expect.poll(() => prompts(asker).length, { timeout: 15_000 }).toBe(1);
  const [prompt] = prompts(asker);
  await approveDeviceSignIn(prompt!.verificationUri, prompt!.userCode, { login: 'dora' });
  const answer = await signedIn;
  expect(answer).toHaveProperty('accessToken');
  expect(await leader.request<DeviceAnswer>({ cmd: 'getToken' })).toEqual(answer);
  expect(prompts(leader)).toHaveLength(0);
  expect(prompts(asker)).toHaveLength(1);
  expect(await leading(leader)).toBe(true);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, refreshRequests: 0 });
}, 60_000);

it('two processes ask at once, neither leading: one device authorization, shown once, in one of the askers', async () => {
  const config: DeviceConfig = { issuer: provider.issuer, clientId, file: path.join(home, 'config-2', 'token.json'), dir: path.join(home, 's2') };
  provider.reset();
  const leader = await start(config);
  expect(await leader.request<DeviceAnswer>({ cmd: 'getToken' })).toMatchObject({ code: 'login_required' });
  await expect.poll(() => leading(leader), { timeout: 15_000 }).toBe(true);
  const askers = [await start(config), await start(config)];
  const answers = Promise.all(askers.map((asker) => asker.request<DeviceAnswer>({ cmd: 'signIn' })));
  await expect.poll(() => askers.flatMap(prompts).length, { timeout: 15_000 }).toBe(1);
  const [prompt] = askers.flatMap(prompts);
  await approveDeviceSignIn(prompt!.verificationUri, prompt!.userCode, { login: 'erin' });
  const [first, second] = await answers;
  expect(first).toHaveProperty('accessToken');
  expect(second).toEqual(first);
  expect(prompts(leader)).toHaveLength(0);
  expect(askers.flatMap(prompts)).toHaveLength(1);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1 });
}, 60_000);
