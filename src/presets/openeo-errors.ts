import * as z from 'zod/mini';
import { SessionError } from '../index.js';
import { apiCall } from './api-call.js';

export const SERVICE = 'openEO';
/** Long enough for any real message; short enough that an echoed request cannot flood logs. */
export const MAX_MESSAGE = 500;

export const linkSchema = z.looseObject({ href: z.string(), rel: z.optional(z.string()) });
export const errorBodySchema = z.looseObject({
  id: z.optional(z.string()),
  code: z.optional(z.string()),
  message: z.optional(z.string()),
  links: z.optional(z.array(linkSchema)),
});

/** An openEO error response (`{ id, code, message, links? }`): `api_error` with the back-end's `code` and request `id`. */
export class OpenEOError extends SessionError {
  /** openEO's error `code`, e.g. `ProcessGraphInvalid`, `CollectionNotFound` (also in `apiStatus`). */
  declare readonly openEOCode?: string;
  /** The back-end's id for this request (`id`), for its logs and support. */
  declare readonly requestId?: string;
  /** `links` of the error body (documentation, often). */
  declare readonly links?: ReadonlyArray<{ readonly href: string; readonly [field: string]: unknown }>;

  constructor(message: string, details: { status: number; code?: string; id?: string; apiMessage?: string; links?: OpenEOError['links']; retryAfter?: number }) {
    super('api_error', message, { status: details.status, apiStatus: details.code, apiMessage: details.apiMessage, retryAfter: details.retryAfter });
    if (details.code !== undefined) Object.defineProperty(this, 'openEOCode', { value: details.code, enumerable: true });
    if (details.id !== undefined) Object.defineProperty(this, 'requestId', { value: details.id, enumerable: true });
    if (details.links !== undefined) Object.defineProperty(this, 'links', { value: details.links, enumerable: true });
  }
}

/** An API call through the client: openEO error bodies become `OpenEOError`s; the rest as every preset does it. */
export function openEOCall<T>(call: () => Promise<T>): Promise<T> {
  return apiCall(SERVICE, async () => {
    try {
      return await call();
    } catch (error) {
      const response = (error as { name?: unknown; response?: Response } | null)?.name === 'HTTPError' ? (error as { response: Response }).response : undefined;
      throw response === undefined ? error : await openEOErrorOf(response);
    }
  });
}

/** The `OpenEOError` of a failed response, from its `{ id, code, message }` body (or just its status). */
export async function openEOErrorOf(response: Response): Promise<OpenEOError> {
  const { status } = response;
  const text = await response.text().catch(() => '');
  let body: z.infer<typeof errorBodySchema> | undefined;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) body = parsed.data;
  } catch {
    // Not JSON: a proxy's page. The status is all there is.
  }
  const apiMessage = body?.message?.slice(0, MAX_MESSAGE);
  const what = body?.code === undefined ? `${status}` : `${body.code} (${status})`;
  const retryAfter = Number(response.headers.get('retry-after'));
  return new OpenEOError(`${SERVICE} refused the request: ${what}${apiMessage ? `: ${apiMessage}` : ''}`, {
    status,
    ...defined({ code: body?.code, id: body?.id, apiMessage, links: body?.links }),
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter: retryAfter * 1000 } : {}),
  });
}

/**
 * openEO answers an expired or revoked token with `403` and code `TokenInvalid` (`401` is for a missing one). Such an
 * answer is handed to the 401 rule as the 401 it means, so that the token is refreshed once for everyone.
 */
export async function tokenInvalidAs401(pending: Promise<Response>): Promise<Response> {
  const response = await pending;
  if (response.status !== 403 || !(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let code: unknown;
  try {
    code = (JSON.parse(text) as { code?: unknown } | null)?.code;
  } catch {
    code = undefined;
  }
  const status = code === 'TokenInvalid' ? 401 : 403;
  return new Response(text, { status, statusText: status === 401 ? 'Unauthorized' : response.statusText, headers: response.headers });
}

export function defined<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
