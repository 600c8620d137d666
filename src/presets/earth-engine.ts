import type { KyInstance } from 'ky';
import * as z from 'zod/mini';
import { createClient, type ClientOptions } from '../client.js';
import { createSession, SessionError, type Clock, type Session, type Sharing, type TokenProvider } from '../index.js';
import { apiCall, parseBody, retryPostOn429, withSessionHeld } from './api-call.js';
import { refuseUserinfo } from '../providers/client-credentials.js';

/** The Earth Engine REST API root (with its version). */
export const EARTH_ENGINE_API = 'https://earthengine.googleapis.com/v1';

/** Options shared by both ways of giving `earthEngine` its credentials. */
export interface EarthEngineBaseOptions {
  /** The Google Cloud project the calls run in and are billed to: `my-project` or `projects/my-project`. */
  readonly project: string;
  /** The REST API root including its version. Default `https://earthengine.googleapis.com/v1`. */
  readonly baseUrl?: string | undefined;
  /** More options for the API client (ky's, plus `maxRetryAfter`): `timeout`, `retry`, `hooks`… */
  readonly client?: ClientOptions | undefined;
  /** The fetch for API requests (and, with `provider`, token requests). Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
}

/** `earthEngine` creating its own session from a provider. */
export interface EarthEngineProviderOptions extends EarthEngineBaseOptions {
  /** e.g. `googleRefreshToken({ … })`, `googleAccessToken({ … })`, or the provider of a SEPAL user. */
  readonly provider: TokenProvider;
  readonly session?: never;
  /** Refresh this long (ms) before expiry. Default 120 000. */
  readonly refreshBeforeExpiry?: number | undefined;
  /** How the token is shared between contexts. Default: the best transport for the runtime. */
  readonly sharing?: Sharing | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
}

/** `earthEngine` on a session the caller owns (e.g. one from a session pool); `close()` leaves it open. */
export interface EarthEngineSessionOptions extends EarthEngineBaseOptions {
  readonly session: Session;
  readonly provider?: never;
}

/** What `earthEngine` takes: a `provider` (it creates and owns the session) or a `session` (you own it). */
export type EarthEngineOptions = EarthEngineProviderOptions | EarthEngineSessionOptions;

/**
 * An Earth Engine computation graph in the Cloud API format, as the client libraries serialise it:
 * JavaScript `ee.Serializer.encodeCloudApi(obj)` (or the string of `ee.Serializer.toCloudApiJSON(obj)`), Python
 * `ee.serializer.encode(obj, for_cloud_api=True)`.
 */
export interface EarthEngineExpression {
  /** The key in `values` of the node whose value is the result. */
  readonly result: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** How to draw an image, in the Earth Engine client libraries' terms. */
export interface VisParams {
  /** Bands to draw: `['B4', 'B3', 'B2']` or `'B4,B3,B2'`. Default: all bands of the image. */
  readonly bands?: string | readonly string[] | undefined;
  /** Value(s) drawn as black; one per band or one for all. Goes with `max`. */
  readonly min?: number | readonly number[] | undefined;
  /** Value(s) drawn as white; one per band or one for all. Goes with `min`. */
  readonly max?: number | readonly number[] | undefined;
  readonly gamma?: number | undefined;
  /** CSS colours for a single band: `['000000', 'FF0000']` or `'000000,FF0000'`. */
  readonly palette?: string | readonly string[] | undefined;
  /** 0–1. */
  readonly opacity?: number | undefined;
  /** Tile format. Default: the server's choice (JPEG, or PNG where there is transparency). */
  readonly format?: 'png' | 'jpg' | 'jpeg' | undefined;
}

/** A map created by `getMapId`. */
export interface EarthEngineMap {
  /** The map's resource name, `projects/{project}/maps/{id}`. */
  readonly name: string;
  /**
   * XYZ tile URL template, `…/{name}/tiles/{z}/{x}/{y}`. Tiles need the session's token: use the map helpers or the
   * service worker helper of this package (a plain `<img>` gets 401).
   */
  readonly tileUrl: string;
}

/** Asset metadata (`assets.get`); the fields apps use, every other field kept. */
export interface EarthEngineAsset {
  /** `IMAGE`, `IMAGE_COLLECTION`, `TABLE`, `FOLDER`, … */
  readonly type: string;
  /** `projects/{project}/assets/{id}`. */
  readonly name: string;
  readonly id?: string | undefined;
  readonly updateTime?: string | undefined;
  readonly startTime?: string | undefined;
  readonly endTime?: string | undefined;
  readonly properties?: Readonly<Record<string, unknown>> | undefined;
  readonly bands?: ReadonlyArray<{ readonly id: string; readonly [field: string]: unknown }> | undefined;
  readonly sizeBytes?: string | undefined;
  readonly [field: string]: unknown;
}

/** Per-call options. */
export interface EarthEngineCallOptions {
  /** Aborts this call (`aborted`); the shared token request goes on for other callers. */
  readonly signal?: AbortSignal | undefined;
}

/** The operations of ee-client (`get_info`, `get_map_id`, `get_asset`) over the REST API. */
export interface EarthEngineOperations {
  /** `value:compute`: the value of `expression`, parsed from JSON. */
  getInfo<T = unknown>(expression: EarthEngineExpression | string, options?: EarthEngineCallOptions): Promise<T>;
  /** `maps.create`: a map of `image` drawn with `visParams`, and its tile URL template. */
  getMapId(image: EarthEngineExpression | string, visParams?: VisParams, options?: EarthEngineCallOptions): Promise<EarthEngineMap>;
  /**
   * `assets.get` for an asset id (`COPERNICUS/S2_SR`, `users/me/x`, `projects/p/assets/x`), resolved to its
   * resource name as the client libraries do.
   */
  getAsset(assetId: string, options?: EarthEngineCallOptions): Promise<EarthEngineAsset>;
}

/** An Earth Engine session with the REST operations. */
export interface EarthEngine {
  readonly session: Session;
  /** A ky instance on `baseUrl` that sends the token and `x-goog-user-project`. */
  readonly client: KyInstance;
  /** The project id (without `projects/`). */
  readonly project: string;
  readonly baseUrl: string;
  readonly operations: EarthEngineOperations;
  /** Closes the session if `earthEngine` created it; a session you passed in stays open. */
  close(): Promise<void>;
}

const SERVICE = 'Earth Engine';

const expressionSchema = z.looseObject({ result: z.string(), values: z.record(z.string(), z.unknown()) });
const computeResponseSchema = z.looseObject({ result: z.optional(z.unknown()) });
// `z.refine` rather than `z.minLength`: see core/schemas.ts.
const mapResponseSchema = z.looseObject({ name: z.string().check(z.refine((value) => value.length > 0)) });
const assetSchema = z.looseObject({
  type: z.string(),
  name: z.string(),
  id: z.optional(z.string()),
  updateTime: z.optional(z.string()),
  startTime: z.optional(z.string()),
  endTime: z.optional(z.string()),
  properties: z.optional(z.record(z.string(), z.unknown())),
  bands: z.optional(z.array(z.looseObject({ id: z.string() }))),
  sizeBytes: z.optional(z.string()),
});

/**
 * An Earth Engine session with ee-client's operations over the REST API.
 *
 * @example
 * const earth = earthEngine({ provider: googleRefreshToken({ clientId, clientSecret, refreshToken }), project: 'my-project' });
 * // `expression`: e.g. `ee.Serializer.toCloudApiJSON(ee.Number(1).add(2))` with the Earth Engine JS client's `ee`.
 * const sum = await earth.operations.getInfo<number>(expression); // 3
 */
export function earthEngine(options: EarthEngineOptions): EarthEngine {
  const project = projectId(options.project);
  const baseUrl = (options.baseUrl ?? EARTH_ENGINE_API).replace(/\/+$/, '');
  if (!URL.canParse(baseUrl)) throw new SessionError('invalid_options', 'baseUrl must be an absolute URL');
  refuseUserinfo('baseUrl', new URL(baseUrl));
  const { fetch } = options;
  let session: Session;
  let owned: boolean;
  if (options.session !== undefined) {
    session = options.session;
    owned = false;
  } else if (options.provider !== undefined) {
    const { provider, refreshBeforeExpiry, sharing, clock, signal } = options;
    session = createSession({ provider, refreshBeforeExpiry, sharing, clock, fetch, signal });
    owned = true;
  } else {
    throw new SessionError('invalid_options', 'earthEngine needs a provider or a session');
  }

  const client = createClient(session, {
    // getInfo and getMapId are POSTs: retried on 429 as Earth Engine's own client does (see `earthEngineRetry`).
    ...retryPostOn429(earthEngineRetry(options.client), fetch, SERVICE),
    prefixUrl: baseUrl,
    // The project whose quota the calls use; the same one as in the URL, so user credentials work too.
    headers: withUserProject(options.client?.headers, project),
  });

  const call = <S extends z.ZodMiniType>(
    schema: S,
    request: (signal: { signal?: AbortSignal }) => Promise<string>,
    callSignal: AbortSignal | undefined,
  ): Promise<z.infer<S>> =>
    // A pooled session is not evicted under a call in progress, its 401 retry included.
    withSessionHeld(session, () => apiCall(SERVICE, () => request(callSignal === undefined ? {} : { signal: callSignal }))).then(
      (text) => parseBody(SERVICE, text, schema),
    );

  const operations: EarthEngineOperations = {
    async getInfo<T>(expression: EarthEngineExpression | string, { signal }: EarthEngineCallOptions = {}) {
      const body = { expression: toExpression(expression, 'expression') };
      const response = await call(
        computeResponseSchema,
        (extra) => client.post(`projects/${project}/value:compute`, { json: body, ...extra }).text(),
        signal,
      );
      // A null value may come back as `{}` (proto3 JSON leaves empty fields out).
      return (response.result ?? null) as T;
    },
    async getMapId(image, visParams = {}, { signal } = {}) {
      const body = { expression: toExpression(image, 'image'), ...mapOptions(visParams) };
      const { name } = await call(
        mapResponseSchema,
        (extra) => client.post(`projects/${project}/maps`, { json: body, ...extra }).text(),
        signal,
      );
      return { name, tileUrl: `${baseUrl}/${name}/tiles/{z}/{x}/{y}` };
    },
    async getAsset(assetId, { signal } = {}) {
      const name = assetName(assetId);
      const path = name.split('/').map(encodeURIComponent).join('/');
      return (await call(assetSchema, (extra) => client.get(path, extra).text(), signal)) as EarthEngineAsset;
    },
  };

  return {
    session,
    client,
    project,
    baseUrl,
    operations,
    close: () => (owned ? session.close() : Promise.resolve()),
  };
}

function projectId(value: unknown): string {
  const id = typeof value === 'string' ? value.replace(/^projects\//, '') : '';
  // Google Cloud project ids: lowercase letters, digits, hyphens; older ones may carry a `domain:` prefix.
  if (!/^[a-z0-9][a-z0-9.:-]*$/.test(id)) {
    throw new SessionError('invalid_options', 'project must be a Google Cloud project id, e.g. my-project');
  }
  return id;
}

function withUserProject(input: ClientOptions['headers'], project: string): Headers {
  const headers = new Headers();
  const entries = input instanceof Headers ? [...input] : Array.isArray(input) ? input : Object.entries(input ?? {});
  for (const [name, value] of entries as Array<[string, string | undefined]>) {
    if (value !== undefined) headers.set(name, value);
  }
  headers.set('x-goog-user-project', project);
  return headers;
}

function toExpression(value: EarthEngineExpression | string, name: string): EarthEngineExpression {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new SessionError('invalid_options', `${name} is a string but not JSON: pass the serialized expression`);
    }
  }
  const result = expressionSchema.safeParse(parsed);
  if (!result.success) {
    throw new SessionError(
      'invalid_options',
      `${name} must be a Cloud API expression {result, values}, e.g. from ee.Serializer.encodeCloudApi(object)`,
    );
  }
  return result.data;
}

/** Client-library vis params → the REST `maps.create` fields (`bandIds`, `visualizationOptions`, `fileFormat`). */
function mapOptions(vis: VisParams): Record<string, unknown> {
  const list = <T>(value: T | readonly T[] | undefined): T[] | undefined =>
    value === undefined ? undefined : Array.isArray(value) ? [...(value as readonly T[])] : [value as T];
  const split = (value: string | readonly string[] | undefined): string[] | undefined =>
    typeof value === 'string' ? value.split(',').map((part) => part.trim()).filter(Boolean) : list(value);

  const options: Record<string, unknown> = {};
  const bands = split(vis.bands);
  if (bands !== undefined) options.bandIds = bands;
  const visualization: Record<string, unknown> = {};
  const min = list(vis.min);
  const max = list(vis.max);
  if ((min === undefined) !== (max === undefined)) {
    throw new SessionError('invalid_options', 'visParams.min and visParams.max go together');
  }
  if (min !== undefined && max !== undefined) {
    const count = Math.max(min.length, max.length);
    if ((min.length !== 1 && min.length !== count) || (max.length !== 1 && max.length !== count)) {
      throw new SessionError('invalid_options', 'visParams.min and visParams.max need one value, or one per band');
    }
    visualization.ranges = Array.from({ length: count }, (_, index) => ({
      min: min[min.length === 1 ? 0 : index],
      max: max[max.length === 1 ? 0 : index],
    }));
  }
  const palette = split(vis.palette);
  if (palette !== undefined) visualization.paletteColors = palette;
  if (vis.gamma !== undefined) visualization.gamma = vis.gamma;
  if (vis.opacity !== undefined) visualization.opacity = vis.opacity;
  if (Object.keys(visualization).length > 0) options.visualizationOptions = visualization;
  if (vis.format !== undefined) options.fileFormat = vis.format === 'png' ? 'PNG' : 'JPEG';
  return options;
}

/**
 * Asset id → resource name, as the Earth Engine client libraries resolve it: `projects/p/assets/…` stays;
 * `users/…` and other `projects/…` ids are legacy assets; everything else (`COPERNICUS/S2_SR`) is a public one.
 */
export function assetName(assetId: string): string {
  if (typeof assetId !== 'string' || assetId.trim() === '' || assetId.split('/').some((part) => part === '..')) {
    throw new SessionError('invalid_options', 'assetId must be an Earth Engine asset id, e.g. COPERNICUS/S2_SR');
  }
  const id = assetId.replace(/^\/+|\/+$/g, '');
  if (/^projects\/[^/]+\/assets\/./.test(id)) return id;
  if (/^(users|projects)\//.test(id)) return `projects/earthengine-legacy/assets/${id}`;
  return `projects/earthengine-public/assets/${id}`;
}

/** Earth Engine's client: 429s retried up to 5 times (`MAX_SYNC_RETRIES_`), after 2^n s, at most 120 s. */
const EE_RATE_LIMIT_RETRIES = 5;
/** ky's default limit, kept for everything else (network errors and 5xx of GETs). */
const OTHER_RETRIES = 2;

/**
 * The retry of the Earth Engine client, as ee-client (`apiclient.calculateRetryWait_`) does it for 429: exponential
 * back-off from 2 s to 120 s (a `Retry-After`, when Google sends one, wins), 5 attempts more; other failures keep
 * ky's two retries. The caller's `client.retry` options apply on top.
 */
function earthEngineRetry(options: ClientOptions | undefined): ClientOptions {
  const { retry, ...rest } = options ?? {};
  const retryOptions = typeof retry === 'number' ? { limit: retry } : retry;
  return {
    ...rest,
    retry: {
      limit: EE_RATE_LIMIT_RETRIES,
      delay: (attempt) => Math.min(120_000, 1000 * 2 ** attempt),
      ...retryOptions,
      shouldRetry: (state) => {
        const { response } = state.error as { response?: Response };
        if (response?.status !== 429 && state.retryCount > OTHER_RETRIES) return false;
        return retryOptions?.shouldRetry?.(state);
      },
    },
  };
}
