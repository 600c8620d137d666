// Runs inside `dbus-run-session` with an unlocked GNOME Keyring (device-keychain.test.ts): deviceSignIn with
// `store: 'keychain'` against the real Secret Service. Talks to the test with JSON lines: prompts out on stdout,
// the test's "approved" in on stdin; the built package, as an app would use it.
import { createInterface } from 'node:readline';
import { spawnSync } from 'node:child_process';
import { memorySharing } from '../../dist/index.js';
import { deviceSignIn } from '../../dist/node.js';

const { issuer, clientId } = JSON.parse(process.env.DEVICE_KEYCHAIN ?? '{}');
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
// Entries of this SDK in the Secret Service, counted by their `username` attribute (secret-tool prints the
// attributes on stderr, the secret on stdout: neither is passed on).
const entries = () => {
  const found = spawnSync('secret-tool', ['search', '--all', 'service', 'shared-session'], { encoding: 'utf8' });
  return `${found.stdout}${found.stderr}`.split('\n').filter((line) => line.startsWith('attribute.username')).length;
};

try {
  let prompts = 0;
  const first = deviceSignIn({ issuer, clientId, store: 'keychain', sharing: memorySharing(), onPrompt: (prompt) => {
    prompts++;
    say({ prompt });
  } });
  const signingIn = first.signIn();
  await lines.next(); // approved
  const token = await signingIn;
  say({ signedIn: true, entriesAfterSignIn: entries() });
  await first.close();
  // A new run: another transport, nothing in memory, the keychain only.
  const second = deviceSignIn({ issuer, clientId, store: 'keychain', sharing: memorySharing(), onPrompt: () => prompts++ });
  const again = await second.signIn();
  say({ reused: again.accessToken !== token.accessToken, prompts });
  await second.signOut();
  say({ entriesAfterSignOut: entries(), done: true });
  await second.close();
} catch (error) {
  say({ error: error?.code ?? String(error), message: error?.message });
}
process.exit(0);
