import { systemClock } from '../core/clock.js';
import type { SessionOptions } from '../core/options.js';
import { openSession, type Session } from '../core/session.js';
// package.json `imports`: memory in Node and workerd, the runtime's choice (`sharing/default.ts`) elsewhere.
import { defaultSharing } from '#default-sharing';
import { withDPoP } from './dpop.js';

/**
 * Creates (or joins) the session for a credential. Without a `sharing` option it uses the runtime's default
 * transport: browser sharing in browsers (and between Deno's workers), memory elsewhere.
 *
 * @example
 * const session = createSession({ provider: clientCredentials({ tokenUrl, clientId, clientSecret }) });
 * const { accessToken } = await session.getToken();
 */
export function createSession(options: SessionOptions): Session {
  const sharing = options.sharing ?? defaultSharing();
  if (options.dpop === undefined || options.dpop === false || typeof options.provider?.fetchToken !== 'function') {
    return openSession(options, sharing);
  }
  const { provider, dpop } = withDPoP(options.provider, options.dpop, options.clock ?? systemClock, sharing);
  return openSession({ ...options, provider }, sharing, dpop);
}
