import type { KyInstance } from 'ky';
import * as z from 'zod/mini';
import { createClient, type ClientOptions } from '../client.js';
import {
  clientCredentials,
  createSession,
  SessionError,
  type Clock,
  type Session,
  type Sharing,
  type TokenRequestOptions,
} from '../index.js';
import { oidcSession, type OidcSession, type OidcSessionOptions } from '../oidc.js';
import { apiCall, parseBody, retryPostOn429 } from './api-call.js';
import { refuseUserinfo } from '../providers/client-credentials.js';

/** Where a Sentinel Hub deployment lives. */
export interface SentinelHubEndpoints {
  /** API root: Process, Catalog and OGC services hang below it. */
  readonly baseUrl: string;
  /** OAuth2 token endpoint (client credentials). */
  readonly tokenUrl: string;
}

/** Sentinel Hub (Planet) on services.sentinel-hub.com, the defaults of sentinelhub-py. */
export const SENTINEL_HUB: SentinelHubEndpoints = {
  baseUrl: 'https://services.sentinel-hub.com',
  tokenUrl: 'https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token',
};

/** Sentinel Hub in the Copernicus Data Space Ecosystem. */
export const CDSE: SentinelHubEndpoints = {
  baseUrl: 'https://sh.dataspace.copernicus.eu',
  tokenUrl: 'https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token',
};

/** The OpenID providers (Keycloak realms) users of each deployment sign in with: their token endpoints' issuers. */
export const SIGN_IN_ISSUERS = {
  sentinelHub: 'https://services.sentinel-hub.com/auth/realms/main',
  cdse: 'https://identity.dataspace.copernicus.eu/auth/realms/CDSE',
} as const;

/**
 * What `sentinelHubSignIn` and `cdseSignIn` take: a *public* client (no secret) registered with the deployment's
 * identity server, with the app's origin among its web origins and `redirectUri` among its redirect URIs.
 */
export interface SentinelHubSignInOptions extends Omit<OidcSessionOptions, 'issuer'> {
  /** The provider users sign in with. Default: the deployment's Keycloak realm (`SIGN_IN_ISSUERS`). */
  readonly issuer?: string | undefined;
  /** API root. Default `https://services.sentinel-hub.com` (`cdseSignIn`: `https://sh.dataspace.copernicus.eu`). */
  readonly baseUrl?: string | undefined;
  /** More options for the API client (ky's, plus `maxRetryAfter`). */
  readonly client?: ClientOptions | undefined;
}

/** `SentinelHub` whose session signs users in (`shared-session/oidc`) instead of holding a client secret. */
export interface SentinelHubSignIn extends Omit<SentinelHub, 'session'> {
  readonly session: OidcSession;
  readonly issuer: string;
}

/** What `sentinelHub` and `cdse` take. Only `clientId` and `clientSecret` are required. */
export interface SentinelHubOptions extends TokenRequestOptions {
  /** OAuth client id, from the dashboard's "OAuth clients". */
  readonly clientId: string;
  /** OAuth client secret. Kept in the provider's closure: never stored, broadcast or logged. */
  readonly clientSecret: string;
  /** API root. Default `https://services.sentinel-hub.com` (`cdse`: `https://sh.dataspace.copernicus.eu`). */
  readonly baseUrl?: string | undefined;
  /** Token endpoint. Default Sentinel Hub's (`cdse`: the CDSE identity server's). */
  readonly tokenUrl?: string | undefined;
  /** Refresh this long (ms) before expiry. Default 120 000, as sentinelhub-py. */
  readonly refreshBeforeExpiry?: number | undefined;
  /** How the token is shared between contexts. Default: the best transport for the runtime. */
  readonly sharing?: Sharing | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
  /** The fetch for token and API requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
  /** More options for the API client (ky's, plus `maxRetryAfter`): `timeout`, `retry`, `hooks`… */
  readonly client?: ClientOptions | undefined;
}

/** Per-call options of the API helpers. */
export interface CallOptions {
  /** Aborts this call (`aborted`); the shared token request goes on for other callers. */
  readonly signal?: AbortSignal | undefined;
}

/** A Process API request (`POST /api/v1/process`). Fields beyond these pass through unchanged. */
export interface ProcessRequest {
  readonly input: {
    readonly bounds: {
      readonly bbox?: readonly number[];
      readonly geometry?: object;
      readonly properties?: { readonly crs?: string };
    };
    readonly data: ReadonlyArray<{ readonly type: string; readonly [field: string]: unknown }>;
  };
  readonly output?: {
    readonly width?: number;
    readonly height?: number;
    readonly resx?: number;
    readonly resy?: number;
    readonly responses?: ReadonlyArray<{ readonly identifier: string; readonly format: { readonly type: string } }>;
    readonly [field: string]: unknown;
  };
  readonly evalscript: string;
  readonly [field: string]: unknown;
}

/** Options of `process`. */
export interface ProcessOptions extends CallOptions {
  /** `Accept` header: the response type, e.g. `image/png`, `image/tiff`, `application/tar`. Default: as the request's `output` says. */
  readonly accept?: string | undefined;
}

/** A Catalog (STAC API) search (`POST /api/v1/catalog/1.0.0/search`). Fields beyond these pass through unchanged. */
export interface CatalogSearch {
  /** e.g. `['sentinel-2-l2a']`. */
  readonly collections: readonly string[];
  /** An RFC 3339 instant or interval, e.g. `2024-06-01T00:00:00Z/2024-06-30T23:59:59Z`. */
  readonly datetime: string;
  /** WGS84 lon/lat: `[west, south, east, north]`. */
  readonly bbox?: readonly number[];
  /** A GeoJSON geometry, instead of `bbox`. */
  readonly intersects?: object;
  /** Items per page (server default 10). */
  readonly limit?: number;
  /** The `context.next` of the previous page. */
  readonly next?: number;
  /** A CQL2 filter, e.g. `eo:cloud_cover < 20`. */
  readonly filter?: string | object;
  readonly 'filter-lang'?: 'cql2-text' | 'cql2-json';
  /**
   * The STAC API Fields extension: which item fields to return (`properties.eo:cloud_cover`, …) or leave out
   * (`geometry`, `links`…). With `fields`, items are `PartialStacItem`s: any field may be missing, and the fields
   * present are still validated.
   */
  readonly fields?: { readonly include?: readonly string[]; readonly exclude?: readonly string[] };
  readonly [field: string]: unknown;
}

/** A STAC link. */
export interface StacLink {
  readonly href: string;
  readonly rel: string;
  readonly type?: string | undefined;
  readonly title?: string | undefined;
}

/** A STAC asset (Sentinel Hub names its assets `data` and `thumbnail`). */
export interface StacAsset {
  readonly href: string;
  readonly type?: string | undefined;
  readonly [field: string]: unknown;
}

/** A STAC item as the Catalog returns it (the fields map apps use; every other field is kept). */
export interface StacItem {
  readonly type: 'Feature';
  readonly id: string;
  readonly collection?: string | undefined;
  readonly geometry: { readonly type: string; readonly [field: string]: unknown } | null;
  readonly bbox?: readonly number[] | undefined;
  readonly properties: {
    readonly datetime: string | null;
    readonly 'eo:cloud_cover'?: number | undefined;
    readonly [field: string]: unknown;
  };
  readonly assets?: Readonly<Record<string, StacAsset>> | undefined;
  readonly links?: readonly StacLink[] | undefined;
  readonly [field: string]: unknown;
}

/**
 * A STAC item of a search with `fields` (the STAC API Fields extension): only the fields asked for, so any may be
 * missing; those present have the types of `StacItem`.
 */
export interface PartialStacItem {
  readonly type?: 'Feature' | undefined;
  readonly id?: string | undefined;
  readonly collection?: string | undefined;
  readonly geometry?: { readonly type: string; readonly [field: string]: unknown } | null | undefined;
  readonly bbox?: readonly number[] | undefined;
  readonly properties?:
    | {
        readonly datetime?: string | null | undefined;
        readonly 'eo:cloud_cover'?: number | undefined;
        readonly [field: string]: unknown;
      }
    | undefined;
  readonly assets?: Readonly<Record<string, StacAsset>> | undefined;
  readonly links?: readonly StacLink[] | undefined;
  readonly [field: string]: unknown;
}

/** One page of Catalog search results: `StacItem`s, or `PartialStacItem`s for a search with `fields`. */
export interface CatalogSearchResult<Item = StacItem> {
  readonly type: 'FeatureCollection';
  readonly features: readonly Item[];
  readonly links?: readonly StacLink[] | undefined;
  /** `next` is present when there are more items: pass it as `next` to get the following page. */
  readonly context?: { readonly next?: number | undefined; readonly limit?: number | undefined; readonly returned: number } | undefined;
  readonly [field: string]: unknown;
}

/** Options of `wmtsTileUrl`. */
export interface WmtsTileOptions {
  /** The configuration instance id (Dashboard → Configuration Utility). It authorises the OGC request. */
  readonly instanceId: string;
  /** A layer of that instance, e.g. `TRUE-COLOR`. */
  readonly layer: string;
  /** Default `PopularWebMercator256` (256-pixel XYZ tiles); `PopularWebMercator512` for 512-pixel tiles. */
  readonly tileMatrixSet?: string | undefined;
  /** Default `image/png`. */
  readonly format?: string | undefined;
  /** An ISO 8601 date or interval, e.g. `2024-06-01/2024-06-30`. */
  readonly time?: string | undefined;
  /** Maximum cloud coverage, 0–100. */
  readonly maxcc?: number | undefined;
  /** More WMTS/OGC parameters (e.g. `{ PRIORITY: 'leastCC' }`). */
  readonly params?: Readonly<Record<string, string | number>> | undefined;
}

/** A Sentinel Hub session and typed helpers for the calls map apps make. */
export interface SentinelHub {
  /** The session: one per credential in this context, shared with every other context by `sharing`. */
  readonly session: Session;
  /** A ky instance on `baseUrl` that sends the session token (see `createClient`). */
  readonly client: KyInstance;
  readonly baseUrl: string;
  readonly tokenUrl: string;
  /** Process API: renders `request` and returns the image (or tar/JSON) as a Blob. */
  process(request: ProcessRequest, options?: ProcessOptions): Promise<Blob>;
  /** Catalog API: one page of STAC items, validated. */
  catalogSearch(search: CatalogSearch & { readonly fields?: undefined }, options?: CallOptions): Promise<CatalogSearchResult>;
  /** Catalog API with the Fields extension: one page of partial STAC items, every field present validated. */
  catalogSearch(search: CatalogSearch, options?: CallOptions): Promise<CatalogSearchResult<PartialStacItem>>;
  /**
   * The XYZ tile URL template (`{z}`, `{x}`, `{y}`) of a WMTS layer of a configuration instance, for map libraries.
   * OGC requests are authorised by the instance id in the URL, so these tiles need no token.
   */
  wmtsTileUrl(options: WmtsTileOptions): string;
  /** Releases this handle (see `Session.close`). */
  close(): Promise<void>;
}

const stacLinkSchema = z.looseObject({ href: z.string(), rel: z.string(), type: z.optional(z.string()), title: z.optional(z.string()) });

const stacItemFields = {
  collection: z.optional(z.string()),
  bbox: z.optional(z.array(z.number())),
  assets: z.optional(z.record(z.string(), z.looseObject({ href: z.string(), type: z.optional(z.string()) }))),
  links: z.optional(z.array(stacLinkSchema)),
};

const stacItemSchema = z.looseObject({
  ...stacItemFields,
  type: z.literal('Feature'),
  id: z.string(),
  geometry: z.nullable(z.looseObject({ type: z.string() })),
  properties: z.looseObject({
    datetime: z.nullable(z.string()),
    'eo:cloud_cover': z.optional(z.number()),
  }),
});

// The Fields extension leaves out whatever the search excludes (or does not include): every field is optional, and
// each one present is checked as in a whole item.
const partialStacItemSchema = z.looseObject({
  ...stacItemFields,
  type: z.optional(z.literal('Feature')),
  id: z.optional(z.string()),
  geometry: z.optional(z.nullable(z.looseObject({ type: z.string() }))),
  properties: z.optional(
    z.looseObject({
      datetime: z.optional(z.nullable(z.string())),
      'eo:cloud_cover': z.optional(z.number()),
    }),
  ),
});

const searchResult = <S extends z.ZodMiniType>(item: S) =>
  z.looseObject({
    type: z.literal('FeatureCollection'),
    features: z.array(item),
    links: z.optional(z.array(stacLinkSchema)),
    context: z.optional(
      z.looseObject({ next: z.optional(z.number()), limit: z.optional(z.number()), returned: z.number() }),
    ),
  });
const catalogSearchResultSchema = searchResult(stacItemSchema);
const partialSearchResultSchema = searchResult(partialStacItemSchema);

/**
 * A session for Sentinel Hub's OAuth2 client credentials, with typed Process, Catalog and WMTS helpers.
 * Defaults: services.sentinel-hub.com and its token endpoint, `refreshBeforeExpiry` 120 s (as sentinelhub-py).
 *
 * @example
 * const sh = sentinelHub({ clientId, clientSecret });
 * const png = await sh.process({ input, output, evalscript });
 */
export function sentinelHub(options: SentinelHubOptions): SentinelHub {
  return create(SENTINEL_HUB, options, 'Sentinel Hub');
}

/**
 * `sentinelHub` for the Copernicus Data Space Ecosystem: the CDSE identity server's token endpoint and
 * `https://sh.dataspace.copernicus.eu`. CDSE tokens live about 10 minutes; the 120 s margin still applies.
 */
export function cdse(options: SentinelHubOptions): SentinelHub {
  return create(CDSE, options, 'Copernicus Data Space');
}

/**
 * Sentinel Hub for a browser app whose users sign in (authorization code + PKCE, one sign-in for every tab and
 * worker): the typed helpers of `sentinelHub` on an `oidcSession` of the Sentinel Hub identity server.
 *
 * @example
 * const sh = sentinelHubSignIn({ clientId: 'my-public-client', redirectUri: `${location.origin}/` });
 * await sh.session.ready;
 * if (!sh.session.signedIn) await sh.session.signIn();
 */
export function sentinelHubSignIn(options: SentinelHubSignInOptions): SentinelHubSignIn {
  return createSignIn(SENTINEL_HUB, SIGN_IN_ISSUERS.sentinelHub, options, 'Sentinel Hub');
}

/**
 * `sentinelHubSignIn` for the Copernicus Data Space Ecosystem: users sign in at
 * `https://identity.dataspace.copernicus.eu/auth/realms/CDSE` (as Copernicus Browser does) and the helpers call
 * `https://sh.dataspace.copernicus.eu`.
 */
export function cdseSignIn(options: SentinelHubSignInOptions): SentinelHubSignIn {
  return createSignIn(CDSE, SIGN_IN_ISSUERS.cdse, options, 'Copernicus Data Space');
}

function createSignIn(defaults: SentinelHubEndpoints, defaultIssuer: string, options: SentinelHubSignInOptions, service: string): SentinelHubSignIn {
  const { issuer = defaultIssuer, baseUrl = defaults.baseUrl, client: clientOptions, refreshBeforeExpiry = 120_000, ...signIn } = options;
  const session = oidcSession({ ...signIn, issuer, refreshBeforeExpiry });
  const helpers = withHelpers(session, baseUrl, `${trimSlash(issuer)}/protocol/openid-connect/token`, options.fetch, clientOptions, service);
  return { ...helpers, session, issuer };
}

function create(defaults: SentinelHubEndpoints, options: SentinelHubOptions, service: string): SentinelHub {
  const {
    clientId,
    clientSecret,
    baseUrl = defaults.baseUrl,
    tokenUrl = defaults.tokenUrl,
    refreshBeforeExpiry = 120_000,
    sharing,
    clock,
    fetch,
    signal,
    client: clientOptions,
    ...tokenRequest
  } = options;
  requireUrl('baseUrl', baseUrl);
  requireUrl('tokenUrl', tokenUrl);
  const session = createSession({
    provider: clientCredentials({ tokenUrl, clientId, clientSecret, ...tokenRequest }),
    refreshBeforeExpiry,
    sharing,
    clock,
    fetch,
    signal,
  });
  return withHelpers(session, baseUrl, tokenUrl, fetch, clientOptions, service);
}

/** The helpers of a Sentinel Hub deployment on `session`, whatever its credential. */
function withHelpers(
  session: Session,
  baseUrl: string,
  tokenUrl: string,
  fetch: typeof globalThis.fetch | undefined,
  clientOptions: ClientOptions | undefined,
  service: string,
): SentinelHub {
  const root = trimSlash(requireUrl('baseUrl', baseUrl));
  const client = createClient(session, {
    // POST too: Process API and Catalog searches are rate-limited (sentinelhub-py and sentinelhub-js retry them).
    ...retryPostOn429(clientOptions, millisecondRetryAfter(fetch), service),
    prefixUrl: root,
  });

  return {
    session,
    client,
    baseUrl: root,
    tokenUrl,
    process(request, { accept, signal: callSignal } = {}) {
      return apiCall(service, () =>
        client
          .post('api/v1/process', {
            json: request,
            ...(accept === undefined ? {} : { headers: { accept } }),
            ...(callSignal === undefined ? {} : { signal: callSignal }),
          })
          .blob(),
      );
    },
    async catalogSearch(search: CatalogSearch, { signal: callSignal }: CallOptions = {}) {
      const text = await apiCall(service, () =>
        client
          .post('api/v1/catalog/1.0.0/search', {
            json: search,
            headers: { accept: 'application/geo+json' },
            ...(callSignal === undefined ? {} : { signal: callSignal }),
          })
          .text(),
      );
      const schema = search.fields === undefined ? catalogSearchResultSchema : partialSearchResultSchema;
      // Whole items unless the search has `fields`: the overloads of `catalogSearch` say which.
      return parseBody(`${service} Catalog`, text, schema) as CatalogSearchResult<StacItem>;
    },
    wmtsTileUrl(tile) {
      return wmtsTileUrl(root, tile);
    },
    close: () => session.close(),
  };
}

/** Builds the XYZ template for a WMTS GetTile request; `{z}`, `{x}` and `{y}` stay literal for the map library. */
function wmtsTileUrl(root: string, options: WmtsTileOptions): string {
  const { instanceId, layer, tileMatrixSet = 'PopularWebMercator256', format = 'image/png', time, maxcc, params } = options;
  if (typeof instanceId !== 'string' || !/^[\w-]+$/.test(instanceId)) {
    throw new SessionError('invalid_options', 'wmtsTileUrl: instanceId must be a configuration instance id');
  }
  if (typeof layer !== 'string' || layer === '') throw new SessionError('invalid_options', 'wmtsTileUrl: layer is required');
  if (maxcc !== undefined && !(maxcc >= 0 && maxcc <= 100)) {
    throw new SessionError('invalid_options', 'wmtsTileUrl: maxcc must be between 0 and 100');
  }
  const query = new URLSearchParams({
    SERVICE: 'WMTS',
    REQUEST: 'GetTile',
    VERSION: '1.0.0',
    LAYER: layer,
    STYLE: 'default',
    FORMAT: format,
    TILEMATRIXSET: tileMatrixSet,
  });
  if (time !== undefined) query.set('TIME', time);
  if (maxcc !== undefined) query.set('MAXCC', String(maxcc));
  for (const [name, value] of Object.entries(params ?? {})) query.set(name, String(value));
  // Appended unencoded: map libraries substitute these placeholders textually.
  return `${root}/ogc/wmts/${instanceId}?${query.toString()}&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}`;
}

/**
 * The fetch of the Sentinel Hub client: Sentinel Hub's `Retry-After` is in milliseconds (its rate-limiting docs;
 * sentinelhub-py divides it by 1000), rewritten to the seconds of RFC 9110, so that the client waits the right time
 * and errors carry the right `retryAfter`.
 */
function millisecondRetryAfter(fetch: typeof globalThis.fetch | undefined): typeof globalThis.fetch {
  return async (input, init) => {
    const response = await (fetch ?? globalThis.fetch)(input, init);
    const header = response.headers.get('retry-after');
    if (header === null || !/^\s*\d+(\.\d+)?\s*$/.test(header)) return response;
    const headers = new Headers(response.headers);
    headers.set('retry-after', String(Number(header) / 1000));
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}

function requireUrl(name: string, value: unknown): string {
  if (typeof value !== 'string' || !URL.canParse(value)) {
    throw new SessionError('invalid_options', `${name} must be an absolute URL`);
  }
  refuseUserinfo(name, new URL(value));
  return value;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
