import type { KyInstance } from 'ky';
import type { ClientOptions } from '../client.js';
import type { Clock, Session, Sharing, TokenProvider, TokenRequestOptions } from '../index.js';
import type { DevicePrompt, DeviceTokenStore } from '../node.js';

/** Options shared by every way of giving `openEO` its credentials. */
export interface OpenEOBaseOptions {
  /** The back-end's API root, with its version: e.g. `https://openeo.dataspace.copernicus.eu/openeo/1.2`. */
  readonly url: string;
  /** More options for the API client (ky's, plus `maxRetryAfter`): `timeout`, `retry`, `hooks`… */
  readonly client?: ClientOptions | undefined;
  /** The fetch for API requests, discovery and (with `provider` or `basic`) token requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /**
   * The bearer's format: `'jwt'`, the access token as it is (API 1.3 back-ends with the `authentication/jwt`
   * conformance class), or `'openeo'`, `oidc/<provider id>/<token>` (`basic//<token>`). Default: read once from the
   * back-end's capabilities (`conformsTo`), as openEO's clients do.
   */
  readonly bearer?: 'jwt' | 'openeo' | undefined;
}

/** Session options `openEO` passes on when it creates the session. */
export interface OpenEOSessionSettings {
  /** Refresh this long (ms) before expiry. Default 120 000. */
  readonly refreshBeforeExpiry?: number | undefined;
  /** How the token is shared between contexts. Default: the best transport for the runtime. */
  readonly sharing?: Sharing | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
}

/** openEO with an OpenID Connect access token from any provider (`Bearer oidc/<provider id>/<token>`). */
export interface OpenEOProviderOptions extends OpenEOBaseOptions, OpenEOSessionSettings {
  /** Where tokens come from: `clientCredentials` (CDSE), `jwtClientCredentials`, a sign-in… `openEO` owns the session. */
  readonly provider: TokenProvider;
  /**
   * The id of the back-end's OIDC provider (`GET /credentials/oidc`) that issues the tokens. Default: the provider whose
   * `issuer` is the token's `iss` (tokens that are JWTs), or the only one listed.
   */
  readonly providerId?: string | undefined;
  readonly session?: never;
  readonly basic?: never;
  readonly signIn?: never;
}

/** openEO on a session the caller owns (e.g. a pooled one, or a sign-in); `close()` leaves it open. */
export interface OpenEOSessionOptions extends OpenEOBaseOptions {
  readonly session: Session;
  /** As for `provider`. */
  readonly providerId?: string | undefined;
  readonly provider?: never;
  readonly basic?: never;
  readonly signIn?: never;
}

/** openEO's own HTTP Basic login (`GET /credentials/basic`), for back-ends that offer it (`Bearer basic//<token>`). */
export interface OpenEOBasicOptions extends OpenEOBaseOptions, OpenEOSessionSettings, TokenRequestOptions {
  /** Kept in the provider's closure: never stored, broadcast or logged; the credential key holds a SHA-256 of the password. */
  readonly basic: { readonly username: string; readonly password: string };
  readonly provider?: never;
  readonly session?: never;
  readonly providerId?: never;
  readonly signIn?: never;
}

/**
 * openEO with the person signed in by the OAuth device flow (RFC 8628), in Node and Deno: the back-end's OIDC provider
 * and a default client allowed the device grant are read from `GET /credentials/oidc`, the person is asked to
 * confirm a code once (`onPrompt`) — for every process of this user on this machine (`localSharing`) and every later
 * run (the refresh token is stored) — and every request carries the token in openEO's bearer format. Built on
 * `deviceSignIn` (`shared-session/node`). In a browser, `openEO()` throws `unsupported_context`.
 */
export interface OpenEODeviceOptions extends OpenEOBaseOptions {
  /** Sign the person in with the device flow, on first use (a token request) or with `session.signIn()`. */
  readonly signIn: 'device';
  /** The id of the back-end's OIDC provider to sign in with. Default: the first one listed, as openEO's clients pick. */
  readonly providerId?: string | undefined;
  /** A public client of the provider allowed the device grant. Default: the back-end's default client for the device flow. */
  readonly clientId?: string | undefined;
  /** Shows the person the code to confirm, in the process that asked for the sign-in. Default: printed to stderr. */
  readonly onPrompt?: ((prompt: DevicePrompt) => void) | undefined;
  /** Where the refresh token is kept between runs: `'keychain'`, `'file'`, `{ path }`, or `false`. Default `'file'`. */
  readonly store?: DeviceTokenStore | undefined;
  /** How the sign-in is shared between processes. Default `localSharing()` (every process of this user on this machine). */
  readonly sharing?: Sharing | undefined;
  /** Refresh this long (ms) before expiry. Default 120 000. */
  readonly refreshBeforeExpiry?: number | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
  readonly provider?: never;
  readonly session?: never;
  readonly basic?: never;
}

/** What `openEO` takes: a `provider`, a `session`, `basic` credentials, or `signIn: 'device'`. */
export type OpenEOOptions = OpenEOProviderOptions | OpenEOSessionOptions | OpenEOBasicOptions | OpenEODeviceOptions;

/** Per-call options. */
export interface OpenEOCallOptions {
  /** Aborts this call (`aborted`); the shared token request goes on for other callers. */
  readonly signal?: AbortSignal | undefined;
}

/** A process graph node: `{ process_id, arguments, result? }`. */
export interface OpenEOProcessNode {
  readonly process_id: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly namespace?: string | null | undefined;
  readonly result?: boolean | undefined;
  readonly [field: string]: unknown;
}

/** A process graph: nodes by name, one of them with `result: true`. */
export type OpenEOProcessGraph = Readonly<Record<string, OpenEOProcessNode>>;

/** A (user-defined) process: its graph, and whatever metadata comes with it. */
export interface OpenEOProcess {
  readonly process_graph: OpenEOProcessGraph;
  readonly [field: string]: unknown;
}

/** `GET /`: what the back-end is and which endpoints it offers. */
export interface OpenEOCapabilities {
  readonly api_version: string;
  readonly backend_version: string;
  readonly stac_version: string;
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly endpoints: ReadonlyArray<{ readonly path: string; readonly methods: readonly string[] }>;
  readonly links: ReadonlyArray<{ readonly href: string; readonly rel?: string | undefined; readonly [field: string]: unknown }>;
  readonly production?: boolean | undefined;
  readonly billing?: { readonly currency: string | null; readonly [field: string]: unknown } | undefined;
  readonly [field: string]: unknown;
}

/** A collection (STAC Collection) as `GET /collections` and `GET /collections/{id}` describe it. */
export interface OpenEOCollection {
  readonly id: string;
  readonly title?: string | undefined;
  readonly description: string;
  readonly license?: string | undefined;
  readonly extent?: { readonly spatial?: unknown; readonly temporal?: unknown; readonly [field: string]: unknown } | undefined;
  readonly links?: ReadonlyArray<{ readonly href: string; readonly rel?: string | undefined; readonly [field: string]: unknown }> | undefined;
  readonly 'cube:dimensions'?: Readonly<Record<string, unknown>> | undefined;
  readonly summaries?: Readonly<Record<string, unknown>> | undefined;
  readonly [field: string]: unknown;
}

/** `GET /collections`. */
export interface OpenEOCollections {
  readonly collections: readonly OpenEOCollection[];
  readonly links: ReadonlyArray<{ readonly href: string; readonly rel?: string | undefined; readonly [field: string]: unknown }>;
  readonly [field: string]: unknown;
}

/** A batch job's state. */
export type OpenEOJobStatus = 'created' | 'queued' | 'running' | 'canceled' | 'finished' | 'error';

/** A batch job (`GET /jobs/{id}`, and the entries of `GET /jobs`). */
export interface OpenEOJob {
  readonly id: string;
  readonly status: OpenEOJobStatus;
  readonly created: string;
  readonly title?: string | null | undefined;
  readonly description?: string | null | undefined;
  readonly updated?: string | undefined;
  readonly progress?: number | undefined;
  readonly costs?: number | null | undefined;
  readonly process?: OpenEOProcess | undefined;
  readonly [field: string]: unknown;
}

/** `GET /jobs/{id}/results`: a STAC Item or Collection whose `assets` are the result files. */
export interface OpenEOJobResults {
  readonly assets: Readonly<Record<string, { readonly href: string; readonly type?: string | undefined; readonly roles?: readonly string[] | undefined; readonly [field: string]: unknown }>>;
  readonly [field: string]: unknown;
}

/** Options of `jobs.create`. */
export interface OpenEOJobOptions extends OpenEOCallOptions {
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly plan?: string | undefined;
  readonly budget?: number | undefined;
  /** More fields of the job (back-end specific, e.g. `job_options`). */
  readonly extra?: Readonly<Record<string, unknown>> | undefined;
}

/** Batch jobs: create, start, look at, fetch results of, cancel and delete. */
export interface OpenEOJobs {
  /** `POST /jobs`: creates a job (not started); returns its id, from `OpenEO-Identifier` (or `Location`). */
  create(process: OpenEOProcess | OpenEOProcessGraph, options?: OpenEOJobOptions): Promise<{ readonly id: string }>;
  /** `POST /jobs/{id}/results`: queues the job. */
  start(id: string, options?: OpenEOCallOptions): Promise<void>;
  /** `GET /jobs/{id}`. */
  get(id: string, options?: OpenEOCallOptions): Promise<OpenEOJob>;
  /** `GET /jobs`: the user's jobs (first page). */
  list(options?: OpenEOCallOptions): Promise<{ readonly jobs: readonly OpenEOJob[]; readonly [field: string]: unknown }>;
  /** `GET /jobs/{id}/results`: the result assets of a finished job. */
  results(id: string, options?: OpenEOCallOptions): Promise<OpenEOJobResults>;
  /** `DELETE /jobs/{id}/results`: cancels a queued or running job. */
  cancel(id: string, options?: OpenEOCallOptions): Promise<void>;
  /** `DELETE /jobs/{id}`. */
  delete(id: string, options?: OpenEOCallOptions): Promise<void>;
}

/** Options of `result`. */
export interface OpenEOResultOptions extends OpenEOCallOptions {
  /** `Accept` header. Default: whatever the process graph's `save_result` says. */
  readonly accept?: string | undefined;
}

/**
 * An openEO back-end with the session's token. With `signIn: 'device'` its session is a `DeviceSession`: `signIn()`
 * to prompt before the first request, `signOut()` to revoke and forget the stored sign-in.
 */
export interface OpenEO<S extends Session = Session> {
  readonly session: S;
  /** The API root (no trailing slash). */
  readonly url: string;
  /** A ky instance on `url` that sends `Authorization: Bearer oidc/<id>/<token>` (or `basic//<token>`) with the 401 rule. */
  readonly client: KyInstance;
  /**
   * A plain `fetch` on the back-end: `path` relative to `url` (`'me'`, `'/jobs'`) or an absolute URL under it. Returns
   * the `Response` whatever its status, after the 401 rule (one refresh for every caller that saw the token, one retry).
   */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The OIDC provider id the bearer names (discovered once, on first use), or `undefined` with `basic`. */
  providerId(options?: OpenEOCallOptions): Promise<string | undefined>;
  /** `GET /`. */
  capabilities(options?: OpenEOCallOptions): Promise<OpenEOCapabilities>;
  /** `GET /collections` (first page). */
  collections(options?: OpenEOCallOptions): Promise<OpenEOCollections>;
  /** `GET /collections/{id}`. */
  collection(id: string, options?: OpenEOCallOptions): Promise<OpenEOCollection>;
  /** `POST /result`: runs the process synchronously and returns what it produced. */
  result(process: OpenEOProcess | OpenEOProcessGraph, options?: OpenEOResultOptions): Promise<Blob>;
  readonly jobs: OpenEOJobs;
  /** Closes the session if `openEO` created it; a session you passed in stays open. */
  close(): Promise<void>;
}
