import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { abortError, SessionError } from '../../core/errors.js';
import type { RefreshTokenStore } from './store.js';

/** The part of `@napi-rs/keyring` this uses. */
interface KeyringEntry {
  getPassword(): string | null;
  setPassword(password: string): void;
  deletePassword(): boolean;
}
type KeyringModule = { Entry: new (service: string, account: string) => KeyringEntry };

/** How long the keychain's first read may take (ms): a locked keychain waiting for a prompt, a bus that does not answer. */
const PROBE_TIMEOUT = 10_000;

/** The keychain's service name for every entry of this SDK. */
export const KEYCHAIN_SERVICE = 'shared-session';

/**
 * The refresh token in the OS keychain (macOS Keychain, Windows Credential Manager, the Secret Service on Linux:
 * GNOME Keyring, KWallet) through `@napi-rs/keyring`, an optional dependency loaded only when asked for. The
 * keychain writes an entry whole, so a crash never leaves half a token.
 */
export function keychainStore(account: string): RefreshTokenStore {
  let entry: KeyringEntry | undefined;
  const opened = (): KeyringEntry => {
    if (entry === undefined) throw new SessionError('closed', 'The keychain store is not open');
    return entry;
  };
  const failure = (what: string, error: unknown): SessionError =>
    new SessionError('sharing_unavailable', `The keychain could not ${what} the refresh token (${(error as Error | null)?.message ?? 'error'})`);
  return {
    kind: 'keychain',
    async open(signal) {
      if (entry !== undefined) return;
      let keyring: KeyringModule;
      // A variable specifier: bundlers leave the optional dependency out, and only this store loads it.
      const name = '@napi-rs/keyring';
      try {
        keyring = (await import(name)) as KeyringModule;
      } catch (error) {
        throw new SessionError('invalid_options', "store: 'keychain' needs the optional dependency @napi-rs/keyring (npm install @napi-rs/keyring)", { cause: error });
      }
      // The binding's calls are synchronous: one that never returns would block this process (Ctrl-C included). The
      // first read is made in a child process, bounded, before any is made here.
      await probe(name, account, signal);
      entry = new keyring.Entry(KEYCHAIN_SERVICE, account);
      // Reached now, so that a locked or missing keychain fails the sign-in, not the first rotation.
      try {
        entry.getPassword();
      } catch (error) {
        entry = undefined;
        throw failure('read', error);
      }
    },
    read() {
      try {
        return opened().getPassword() ?? undefined;
      } catch (error) {
        throw failure('read', error);
      }
    },
    write(refreshToken) {
      try {
        opened().setPassword(refreshToken);
      } catch (error) {
        throw failure('write', error);
      }
    },
    remove(expected) {
      const keychain = opened();
      try {
        if (expected !== undefined && keychain.getPassword() !== expected) return;
        keychain.deletePassword();
      } catch (error) {
        throw failure('delete', error);
      }
    },
  };
}

const PROBE = `const { Entry } = require(process.argv[1]);
try { new Entry(process.argv[2], process.argv[3]).getPassword(); } catch (error) { process.stderr.write(String(error && error.message)); process.exit(1); }`;

/** Reads the entry in a child process, killed after PROBE_TIMEOUT: fails with `sharing_unavailable` when it does not answer or fails. */
function probe(name: string, account: string, signal: AbortSignal | undefined): Promise<void> {
  // Deno runs the binding in-process only (its executable takes no `-e`).
  if ('Deno' in globalThis) return Promise.resolve();
  const binding = createRequire(import.meta.url).resolve(name);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const child = execFile(process.execPath, ['-e', PROBE, binding, KEYCHAIN_SERVICE, account], { timeout: PROBE_TIMEOUT, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
      process.off('exit', kill);
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return reject(abortError(signal));
      if (error === null) return resolve();
      const why = error.killed ? `the keychain did not answer within ${PROBE_TIMEOUT / 1000} s (locked, waiting for a prompt, or a D-Bus that does not answer)` : stderr.slice(0, 200) || 'error';
      reject(new SessionError('sharing_unavailable', `The keychain could not read the refresh token (${why})`));
    });
    // This process may end first (Ctrl-C): the child goes with it.
    const kill = (): void => void child.kill('SIGKILL');
    process.once('exit', kill);
    signal?.addEventListener('abort', kill, { once: true });
  });
}
