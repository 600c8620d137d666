import { clientCredentials, createSession, type Session } from 'shared-session';
import { DEMO_CLIENT, TOKEN_PATH } from '../config.js';

/**
 * The session every tab (and the service worker) opens for the stand-in credential. Handles for the same credential
 * share one session per context; the default `sharing` links the contexts of the browser.
 */
export function openSession(origin: string): Session {
  return createSession({
    provider: clientCredentials({ tokenUrl: new URL(TOKEN_PATH, origin).href, ...DEMO_CLIENT }),
    // Tokens live 60 s here; refresh 15 s ahead so the countdown shows a refresh every 45 s.
    refreshBeforeExpiry: 15_000,
  });
}
