/**
 * `deno test --unstable-kv kv_test.ts -- <config JSON>`: `denoKvSharing` against hostile input, in one Deno context
 * with an in-memory KV: bad options, forged and foreign records, and a KV that is gone. Asserted with `node:assert`.
 */
import assert from 'node:assert/strict';
import { clientCredentials, createSession, isSessionError, type Session, type SessionError } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';
import type { KvConfig } from './protocol.ts';

const config = JSON.parse(Deno.args[0]!) as KvConfig;
const prefix = ['hostile'];

function session(kv: Deno.Kv, errors: string[] = []): Session {
  const { tokenUrl, clientId, clientSecret } = config;
  const created = createSession({ provider: clientCredentials({ tokenUrl, clientId, clientSecret }), sharing: denoKvSharing({ kv, prefix }) });
  created.on('error', (error) => errors.push(error.code));
  return created;
}

async function failure(promise: Promise<unknown>): Promise<SessionError> {
  const error = await promise.then(
    () => assert.fail('expected a SessionError'),
    (caught: unknown) => caught,
  );
  assert.ok(isSessionError(error), String(error));
  return error;
}

/** The records of the credential, whatever their key (a digest of the credential key under the prefix). */
async function records(kv: Deno.Kv): Promise<Deno.KvEntry<unknown>[]> {
  return await Array.fromAsync(kv.list({ prefix }));
}

Deno.test('bad options: invalid_options at once, never a TypeError', () => {
  const invalid = (build: () => unknown): void =>
    assert.throws(build, (error: unknown) => isSessionError(error, 'invalid_options'));
  invalid(() => denoKvSharing(undefined as never));
  invalid(() => denoKvSharing({ kv: {} as never }));
  invalid(() => denoKvSharing({ kv: { getMany: () => Promise.resolve([]), atomic: () => ({}) } as never, prefix: 'app' as never }));
  invalid(() => denoKvSharing({ kv: { getMany: () => Promise.resolve([]), atomic: () => ({}) } as never, prefix: [{}] as never }));
  for (const leaseTime of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
    invalid(() => denoKvSharing({ kv: { getMany: () => Promise.resolve([]), atomic: () => ({}) } as never, leaseTime }));
  }
});

Deno.test('forged records: an unreadable token is never handed out, an unreadable epoch counts as a sign-out; both reported', async () => {
  const kv = await Deno.openKv(':memory:');
  const errors: string[] = [];
  const first = session(kv, errors);
  const { accessToken } = await first.getToken();
  await first.close();
  const stored = await records(kv);
  const tokenKey = stored.find((entry) => entry.key.at(-1) === 'token')!.key;
  const epochKey = [...tokenKey.slice(0, -1), 'epoch'];
  // A token record of another shape (another version, or written by hand): ignored, reported, replaced.
  await kv.set(tokenKey, { epoch: 0, token: { accessToken: 'at_forged', tokenType: 'Bearer', expiresAt: 'soon' } });
  const second = session(kv, errors);
  const replaced = await second.getToken();
  assert.notEqual(replaced.accessToken, 'at_forged');
  assert.notEqual(replaced.accessToken, accessToken);
  assert.ok(errors.includes('corrupt_storage'));
  // An epoch that is not one: whether a sign-out was recorded cannot be known, so the stored token is dropped.
  await kv.set(epochKey, 'not an epoch');
  const third = session(kv, []);
  const repairedFrom = Date.now();
  const after = await third.getToken();
  assert.notEqual(after.accessToken, replaced.accessToken);
  // The repair is a sign-out, written at least at the time: higher than any epoch a running session may know.
  const repaired = (await kv.get<{ epoch: number }>(epochKey)).value;
  assert.ok(repaired !== null && Number.isSafeInteger(repaired.epoch) && repaired.epoch >= repairedFrom, JSON.stringify(repaired));
  // A well-formed token of another epoch (written before a sign-out) is never handed out either.
  await kv.set(tokenKey, { epoch: 0, token: { accessToken: 'at_old_epoch', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 } });
  const fourth = session(kv, []);
  assert.notEqual((await fourth.getToken()).accessToken, 'at_old_epoch');
  await Promise.all([second.close(), third.close(), fourth.close()]);
  kv.close();
});

Deno.test('KV gone (closed under the session): getToken fails sharing_unavailable within its bound, never hangs', async () => {
  const kv = await Deno.openKv(':memory:');
  const one = session(kv);
  kv.close();
  const started = Date.now();
  const error = await failure(one.getToken());
  assert.equal(error.code, 'sharing_unavailable');
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  await one.close();
});

Deno.test('nothing the app sees or KV holds carries the client secret', async () => {
  const kv = await Deno.openKv(':memory:');
  const one = session(kv);
  await one.getToken();
  await one.clear();
  const text = JSON.stringify(await records(kv));
  assert.ok(!text.includes(config.clientSecret));
  assert.ok(!text.includes(config.clientId));
  await one.close();
  kv.close();
});
