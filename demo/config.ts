/**
 * What the page, the service worker and the demo's server agree on. Nothing secret: the page ships no client secret
 * (the client-credentials mode gets its tokens from the demo's backend, which holds the secret: demo/service/).
 */

/** How the page gets its token: users sign in (OpenID Connect, the default), or the backend's service account. */
export type DemoMode = 'sign-in' | 'client-credentials';
export const DEFAULT_MODE: DemoMode = 'sign-in';
/** The query parameter that picks the mode, e.g. `/?mode=client-credentials`. */
export const MODE_PARAMETER = 'mode';

/** What the page needs to sign users in: the local OpenID provider that `npm run demo` starts. */
export interface DemoConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}
/** The page reads `DemoConfig` here. */
export const CONFIG_PATH = '/demo/config';
/** The backend's token route for the client-credentials mode (it holds the secret; the page never sees it). */
export const BACKEND_TOKEN_PATH = '/demo/backend-token';
/** The public client the page signs in with, and what it asks for. */
export const SIGN_IN_CLIENT_ID = 'demo-map';
export const SIGN_IN_SCOPE = 'openid offline_access profile email';

/** Same path as Sentinel Hub's token endpoint, so the provider config reads like the real one. */
export const TOKEN_PATH = '/auth/realms/main/protocol/openid-connect/token';
/** Protected raster tiles: `/tiles/{z}/{x}/{y}.png`, 401 without a valid Bearer token. */
export const TILE_PATH = '/tiles/';
/** Server-sent events with the service's counters. */
export const EVENTS_PATH = '/stand-in/events';
/** The same counters as JSON. */
export const STATS_PATH = '/stand-in/stats';
/** Service workers say they are alive here (they cannot hold an event stream open). */
export const PRESENCE_PATH = '/stand-in/presence';

/** Token lifetime (s): short, so that refreshes happen while you watch. */
export const TOKEN_LIFETIME = 60;

/** The service's counters, as the page shows them. */
export interface ServiceStats {
  /**
   * Token requests from every tab and worker together: the stand-in's token endpoint (client-credentials mode) plus
   * the OpenID provider's code exchanges and refreshes (sign-in mode).
   */
  readonly tokenRequests: number;
  /** At the OpenID provider: sign-ins completed (authorization codes exchanged) and refresh-token grants. */
  readonly codeExchanges: number;
  readonly refreshRequests: number;
  /** Spent refresh tokens presented again (each one costs the sign-in): 0 with a shared session. */
  readonly reusedRefreshTokens: number;
  readonly tilesServed: number;
  /** Tile requests refused with 401 (no token, or an expired or unknown one). */
  readonly unauthorized: number;
  /** Tabs with the page open (an open event stream each). */
  readonly tabs: number;
  /** Service workers seen in the last 30 s. */
  readonly workers: number;
  readonly tokenLifetime: number;
}
