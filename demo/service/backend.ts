import type { IncomingMessage, ServerResponse } from 'node:http';
import { BACKEND_TOKEN_PATH } from '../config.js';

/**
 * The service account's client credentials: known to the demo's server only. The page of the client-credentials mode
 * asks the backend for a token (`customProvider`), as a real app must do instead of shipping a secret to browsers.
 */
export const SERVICE_ACCOUNT = { clientId: 'demo-map', clientSecret: 'stand-in-secret' } as const;

/** The backend's token route: one client_credentials request to the service per call, the secret added here. */
export function createBackend(options: { tokenUrl: () => string }): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== BACKEND_TOKEN_PATH || req.method !== 'POST') return next();
    void (async () => {
      try {
        const response = await fetch(options.tokenUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: SERVICE_ACCOUNT.clientId, client_secret: SERVICE_ACCOUNT.clientSecret }).toString(),
        });
        // Passed on as the service answered (a token response or an OAuth error, never the secret).
        res.writeHead(response.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(await response.text());
      } catch {
        res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
      }
    })();
  };
}
