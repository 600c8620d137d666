import type { TokenSet } from '../token.js';
import type { Sharing } from './sharing.js';

/**
 * Shares a token between the sessions of one JavaScript context (one tab, one worker, one server process).
 * Sessions with the same key in one context already share one core, so this transport only keeps the last token
 * set: there is nobody else to tell.
 */
export function memorySharing(): Sharing {
  return {
    kind: 'memory',
    connect(peer) {
      let current: TokenSet | undefined;
      return {
        leading: true,
        load: () => Promise.resolve(current),
        async obtain() {
          current = await peer.fetchToken(current?.refreshToken);
          return current;
        },
        clear() {
          current = undefined;
          return Promise.resolve();
        },
        close() {
          current = undefined;
          return Promise.resolve();
        },
      };
    },
  };
}
