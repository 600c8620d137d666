/**
 * What the page, the service worker and the stand-in service agree on. The demo's credential is a stand-in: a real
 * app does not ship a client secret to browsers (see demo/README.md, "Using it with a real service").
 */
export const DEMO_CLIENT = { clientId: 'demo-map', clientSecret: 'stand-in-secret' } as const;

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
  /** Token requests from every tab and worker together. */
  readonly tokenRequests: number;
  readonly tilesServed: number;
  /** Tile requests refused with 401 (no token, or an expired or unknown one). */
  readonly unauthorized: number;
  /** Tabs with the page open (an open event stream each). */
  readonly tabs: number;
  /** Service workers seen in the last 30 s. */
  readonly workers: number;
  readonly tokenLifetime: number;
}
