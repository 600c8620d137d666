import * as z from 'zod/mini';
import { parseBody } from './api-call.js';
import { linkSchema, SERVICE } from './openeo-errors.js';
import { boundedGet } from './openeo-get.js';

/*
 * Whether an openEO back-end takes the access token as it is: API 1.3's `authentication/jwt` conformance class, in the
 * capabilities' `conformsTo` or on the conformance page they link to (where openEO's clients look).
 */

const conformanceSchema = z.looseObject({
  conformsTo: z.optional(z.array(z.string())),
  links: z.optional(z.array(linkSchema)),
});

/** The relations under which a landing page links its conformance classes (openEO and OGC API). */
const CONFORMANCE_RELATIONS = new Set(['conformance', 'http://www.opengis.net/def/rel/ogc/1.0/conformance']);
/** API 1.3's class for a bare JWT bearer, any patch version (`https://api.openeo.org/1.3.0/authentication/jwt`). */
const JWT_CLASS = /^https:\/\/api\.openeo\.org\/[^/]+\/authentication\/jwt$/;

/**
 * Whether the back-end at the API root `url` conforms to API 1.3's `authentication/jwt` class, read from the
 * capabilities' `conformsTo` or the conformance page they link to (as openEO's clients read it). `undefined` when the
 * capabilities could not be read (an error status): the caller sends openEO's own format and asks again later.
 */
export async function acceptsBareJwt(url: string, fetch: typeof globalThis.fetch, signal?: AbortSignal): Promise<boolean | undefined> {
  const capabilities = await conformanceOf(fetch, `${url}/`, signal);
  if (capabilities === undefined) return undefined;
  if (capabilities.conformsTo !== undefined) return capabilities.conformsTo.some((uri) => JWT_CLASS.test(uri));
  const link = capabilities.links?.find((each) => each.rel !== undefined && CONFORMANCE_RELATIONS.has(each.rel));
  if (link === undefined || !URL.canParse(link.href, `${url}/`)) return false;
  const target = new URL(link.href, `${url}/`);
  // The conformance page is fetched without a token; still, only from the back-end's own origin.
  if (target.origin !== new URL(url).origin) return false;
  const page = await conformanceOf(fetch, target.href, signal);
  return page === undefined ? undefined : page.conformsTo?.some((uri) => JWT_CLASS.test(uri)) === true;
}

async function conformanceOf(fetch: typeof globalThis.fetch, url: string, signal: AbortSignal | undefined): Promise<z.infer<typeof conformanceSchema> | undefined> {
  const response = await boundedGet(fetch, url, signal);
  if (!response.ok) return undefined;
  return parseBody(`${SERVICE} capabilities`, await response.text(), conformanceSchema);
}
