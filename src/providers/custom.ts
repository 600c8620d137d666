import { SessionError } from '../core/errors.js';
import { tokenSchema } from '../core/schemas.js';
import type { Token } from '../core/token.js';
import type { TokenProvider } from './provider.js';
import { credentialKey, requireString } from './client-credentials.js';

/** What `customProvider` takes: a key and the function that gets a token from wherever the app gets it. */
export interface CustomProviderOptions {
  /** Identifies the credential (e.g. a user id); sessions with the same key share one token. No secrets. */
  readonly key: string;
  /** Gets a token from wherever the app gets it (its own backend, a native bridge…). Must honour `signal`. */
  readonly fetchToken: (signal: AbortSignal) => Promise<Token>;
}

/** For apps whose own backend hands out tokens. What `fetchToken` returns is validated like any other response. */
export function customProvider(options: CustomProviderOptions): TokenProvider {
  requireString('key', options.key);
  return {
    key: credentialKey('custom', options.key),
    canRefresh: true,
    usesRefreshToken: false,
    async fetchToken({ signal }) {
      const parsed = tokenSchema.safeParse(await options.fetchToken(signal));
      if (!parsed.success) throw new SessionError('invalid_response', 'customProvider.fetchToken returned a malformed token');
      return { token: parsed.data };
    },
  };
}
