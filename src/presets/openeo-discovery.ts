import * as z from 'zod/mini';
import { SessionError } from '../index.js';
import { refuseUserinfo } from '../providers/client-credentials.js';
import { SERVICE } from './openeo-errors.js';
import { openEO } from './openeo.js';
import type { OpenEO, OpenEOOptions } from './openeo-types.js';
import { boundedGet } from './openeo-get.js';

/*
 * Which API version of an openEO back-end to use, read the way openEO's own clients read it: `/.well-known/openeo`
 * lists the versions a back-end serves, and the client picks the newest production one it speaks.
 */

/** Built on first use, not at import: an app that imports only `openEO` does not carry it. */
const wellKnownSchema = (): z.ZodMiniType<{ versions: Array<{ url: string; api_version: string; production?: boolean | undefined }> }> =>
  z.looseObject({
    versions: z.array(z.looseObject({ url: z.string(), api_version: z.string(), production: z.optional(z.boolean()) })),
  });

/** Options of `discoverOpenEO`. */
export interface OpenEODiscoveryOptions {
  /** The fetch for the well-known document. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Aborts the discovery (`aborted`). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The API root to use for a back-end's URL, found as openEO's clients find it: `GET <url>/.well-known/openeo` and the
 * newest production version of API 1.x it lists (the newest 1.x when none is marked production). A back-end without
 * the document (404, not JSON, no versions) is used at `url` as it is, as openEO's clients fall back; one that lists
 * only versions this SDK does not speak is refused with `invalid_response`.
 *
 * @example
 * const url = await discoverOpenEO('https://openeo.dataspace.copernicus.eu');
 * const backend = openEO({ url, provider });
 */
export async function discoverOpenEO(url: string, options: OpenEODiscoveryOptions = {}): Promise<string> {
  const root = httpUrl(url, 'url');
  const fetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  let document: z.infer<ReturnType<typeof wellKnownSchema>>;
  try {
    const response = await boundedGet(fetch, `${root}/.well-known/openeo`, options.signal);
    if (!response.ok) return root;
    const parsed = wellKnownSchema().safeParse(JSON.parse(await response.text()));
    if (!parsed.success) return root;
    document = parsed.data;
  } catch (error) {
    // Unreachable is not "no document": the back-end itself would be unreachable too, and the caller should know.
    if (error instanceof SessionError) throw error;
    return root;
  }
  const usable = document.versions
    .map((entry) => ({ ...entry, version: parseVersion(entry.api_version) }))
    .filter((entry) => entry.version !== undefined && entry.version[0] === 1 && URL.canParse(entry.url))
    .sort((a, b) => compareVersions(b.version!, a.version!));
  const chosen = usable.find((entry) => entry.production === true) ?? usable[0];
  if (chosen === undefined) {
    const listed = document.versions.map((entry) => entry.api_version).join(', ') || 'none';
    throw new SessionError('invalid_response', `${SERVICE} back-end serves no API version 1.x (it lists: ${listed.slice(0, 200)})`);
  }
  // The listed URL is where the token will go: it must be an http(s) URL without credentials, like `url` itself.
  return httpUrl(new URL(chosen.url, `${root}/`).href, 'the API root listed in /.well-known/openeo');
}

function httpUrl(value: unknown, name: string): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new SessionError('invalid_options', `${name} must be an absolute http(s) URL of an openEO back-end`);
  }
  refuseUserinfo(name, new URL(value));
  return value.replace(/\/+$/, '');
}

type Version = readonly [number, number, number, string | undefined];

/** `1.2.0`, `1.0.0-rc.2`: [major, minor, patch, pre-release]; anything else is not a version we can compare. */
function parseVersion(value: string): Version | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:-([\w.-]+))?$/.exec(value);
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3]), match[4]];
}

/** Semantic-version order, a pre-release before its release (pre-releases compared as text: enough to pick one). */
function compareVersions(a: Version, b: Version): number {
  for (let index = 0; index < 3; index++) {
    const difference = (a[index] as number) - (b[index] as number);
    if (difference !== 0) return difference;
  }
  if (a[3] === b[3]) return 0;
  if (a[3] === undefined) return 1;
  if (b[3] === undefined) return -1;
  return a[3] < b[3] ? -1 : 1;
}

/**
 * `openEO` on the API version the back-end recommends: `discoverOpenEO(options.url)` (its `/.well-known/openeo`, the
 * newest production API 1.x), then `openEO` on that root. For a URL that already names a version, `openEO` alone.
 *
 * @example
 * const backend = await connectOpenEO({ url: 'https://openeo.dataspace.copernicus.eu', provider });
 */
export async function connectOpenEO(options: OpenEOOptions & { readonly signal?: AbortSignal | undefined }): Promise<OpenEO> {
  const url = await discoverOpenEO(options.url, { fetch: options.fetch, signal: options.signal });
  return openEO({ ...options, url } as OpenEOOptions);
}
