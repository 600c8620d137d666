// The service worker: the app's only auth code. It keeps one session (shared with any page or worker that makes one)
// and adds the token to the requests it names, so that <img> tags, CSS and plain fetch calls reach the protected API.
import { createSession, customProvider } from 'shared-session';
import { installAuthFetch } from 'shared-session/service-worker';

interface WorkerScope {
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: 'install' | 'activate', listener: (event: Event & { waitUntil(promise: Promise<unknown>): void }) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

const session = createSession({
  // The app's backend gets the token (it holds the client secret); the browser never sees a secret.
  provider: customProvider({
    key: 'my-app-backend',
    async fetchToken(signal) {
      const response = await fetch('/session-token', { signal, credentials: 'same-origin' });
      if (!response.ok) throw new Error(`/session-token answered ${response.status}`);
      const body = (await response.json()) as { access_token: string; expires_in: number };
      const now = Date.now();
      // The scheme as APIs expect it: the backend's OAuth answer may spell it `bearer` (RFC 6749 lets it).
      return { accessToken: body.access_token, tokenType: 'Bearer', issuedAt: now, expiresAt: now + body.expires_in * 1000 };
    },
  }),
});
installAuthFetch({ session, match: ['/tiles/'] }); // only the tile API gets the token

scope.addEventListener('install', () => void scope.skipWaiting());
scope.addEventListener('activate', (event) => event.waitUntil(scope.clients.claim()));
