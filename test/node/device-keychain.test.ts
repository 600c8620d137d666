import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// deviceSignIn({ store: 'keychain' }) against a real Secret Service, not a mock: GNOME Keyring, unlocked, in a D-Bus
// session of its own (scripts/setup.sh installs dbus, gnome-keyring and libsecret-tools). The refresh token is in the
// keychain after the sign-in, a later run signs in from it without a prompt, and signOut leaves no entry.

const KEYRING_SESSION = [
  'echo pw | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 & keyring=$!',
  'for i in $(seq 100); do dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break; sleep 0.1; done',
  'node SCRIPT; status=$?',
  'kill $keyring; wait $keyring 2>/dev/null; exit $status',
].join('\n');

let provider: OpenIdProvider;
const clientId = 'device-keychain';

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
});
afterAll(() => provider.close());

it('keeps the refresh token in the Secret Service: one entry after sign-in, 0 prompts on the next run, none after signOut', async () => {
  const script = path.resolve(import.meta.dirname, '../support/device-keychain-run.mjs');
  // A keyring of its own (GNOME Keyring keeps it under $XDG_DATA_HOME/keyrings): nothing of this user's, nothing left.
  const data = mkdtempSync(path.join(tmpdir(), 'device-keyring-'));
  const child = spawn(
    'dbus-run-session',
    // The keyring in the foreground, so that its pid is known and it is stopped with the bus (daemonized, it would
    // outlive the test); the script starts once it owns org.freedesktop.secrets.
    ['--', 'sh', '-c', KEYRING_SESSION.replace('SCRIPT', JSON.stringify(script))],
    { env: { ...process.env, XDG_DATA_HOME: data, DEVICE_KEYCHAIN: JSON.stringify({ issuer: provider.issuer, clientId }) }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const said: Record<string, unknown>[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const message = JSON.parse(line) as Record<string, unknown>;
      said.push(message);
      if (message.prompt !== undefined) {
        const { verificationUri, userCode } = message.prompt as { verificationUri: string; userCode: string };
        await approveDeviceSignIn(verificationUri, userCode, { login: 'dana' });
        child.stdin.write('approved\n');
      }
      if (message.done === true || message.error !== undefined) break;
    }
  } finally {
    child.stdin.destroy();
    // It ends by itself (the script exits, then the keyring and the bus are stopped); killed only when stuck.
    const stuck = setTimeout(() => child.kill(), 10_000);
    await exited;
    clearTimeout(stuck);
    rmSync(data, { recursive: true, force: true });
  }
  const outcome = Object.assign({}, ...said) as Record<string, unknown>;
  expect(outcome.error).toBeUndefined();
  expect(outcome).toMatchObject({ signedIn: true, entriesAfterSignIn: 1, reused: true, prompts: 1, entriesAfterSignOut: 0 });
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, refreshRequests: 1, revocations: 1 });
}, 60_000);
