import { SessionError } from '../../core/errors.js';
import type { RefreshTokenStore } from './store.js';

/** The part of `@napi-rs/keyring` this uses. */
interface KeyringEntry {
  getPassword(): string | null;
  setPassword(password: string): void;
  deletePassword(): boolean;
}
type KeyringModule = { Entry: new (service: string, account: string) => KeyringEntry };

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
    async open() {
      if (entry !== undefined) return;
      let keyring: KeyringModule;
      try {
        // A variable specifier: bundlers leave the optional dependency out, and only this store loads it.
        const name = '@napi-rs/keyring';
        keyring = (await import(name)) as KeyringModule;
      } catch (error) {
        throw new SessionError('invalid_options', "store: 'keychain' needs the optional dependency @napi-rs/keyring (npm install @napi-rs/keyring)", { cause: error });
      }
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
