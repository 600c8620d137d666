import * as z from 'zod/mini';
import { SessionError } from './errors.js';

// Checks are `z.refine` with the rule written out, not `z.regex`/`z.minLength`/`z.positive`: each kind of zod check
// brings its own code into every bundle (together about 0.5 KB gzip of the browser core), and these rules are one
// comparison each. A failed one is reported with the issue code `custom` at the same path.

const nonEmpty = z.string().check(z.refine((value) => value.length > 0));

/**
 * An access token as RFC 6749 (Appendix A.12) defines it: visible ASCII and spaces only. It goes into an
 * `Authorization` header as is, so a CR, LF or other control character would be a header injection, and `Headers`
 * would throw an error that quotes it.
 */
const accessToken = z.string().check(z.refine((value) => /^[\x20-\x7e]+$/.test(value)));
/**
 * A refresh token (RFC 6749 Appendix A.17): the same characters. It is sent back in a form body and kept in storage;
 * one with control characters is not what the provider issued to a correct client.
 */
const refreshToken = z.string().check(z.refine((value) => /^[\x20-\x7e]+$/.test(value)));
/** A token type (RFC 6749 Appendix A.13): letters, digits, `-`, `.` and `_`. */
const tokenType = z.string().check(z.refine((value) => /^[\w.-]+$/.test(value)));

/** A successful token response (RFC 6749 §5.1). Unknown members are allowed and ignored. */
export const tokenResponseSchema = z.looseObject({
  access_token: accessToken,
  token_type: z.optional(tokenType),
  // Some servers send numbers as strings; anything else that is not a positive finite number is rejected below.
  // `z.custom` with the test of `z.union([z.number(), z.string()])` (a finite number, or a string): a union brings
  // zod's union code (about 0.3 KB gzip) into every bundle.
  expires_in: z.optional(
    z.custom<number | string>((value) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))),
  ),
  refresh_token: z.optional(refreshToken),
  scope: z.optional(z.string()),
});

/** An error response (RFC 6749 §5.2). */
export const oauthErrorSchema = z.looseObject({
  error: nonEmpty,
  error_description: z.optional(z.string()),
});

/** The token as it is stored and sent between contexts (versioned by the envelope that carries it). */
export const tokenSchema = z.object({
  accessToken,
  tokenType,
  expiresAt: z.number().check(z.refine((value) => value > 0)),
  issuedAt: z.number().check(z.refine((value) => value >= 0)),
  scope: z.optional(z.string()),
});

/** `true` or `false`: what `z.boolean()` accepts, with code every bundle already has (`$ZodBoolean` is 0.2 KB more). */
export const boolean = /* @__PURE__ */ z.custom<boolean>((value) => typeof value === 'boolean');

/** The part of a zod schema that the transports use: what `oneOf` gives. */
export interface OneOf<T> {
  safeParse(value: unknown): { readonly success: true; readonly data: T } | { readonly success: false; readonly data?: undefined };
  parse(value: unknown): T;
}

/**
 * A value that one of `schemas` accepts (the first that does): what `z.discriminatedUnion('type', schemas)` checks for
 * object schemas told apart by a literal `type`, since at most one of them accepts a value. zod's union code is about
 * 0.85 KB gzip in every bundle that has one; this is a loop.
 */
export function oneOf<const S extends readonly z.ZodMiniType[]>(schemas: S): OneOf<z.infer<S[number]>> {
  const safeParse: OneOf<z.infer<S[number]>>['safeParse'] = (value) => {
    for (const schema of schemas) {
      const parsed = schema.safeParse(value);
      if (parsed.success) return { success: true, data: parsed.data as z.infer<S[number]> };
    }
    return { success: false };
  };
  return {
    safeParse,
    parse(value) {
      const parsed = safeParse(value);
      if (!parsed.success) throw new SessionError('invalid_message', 'The value matches none of the expected shapes');
      return parsed.data;
    },
  };
}

/** What a `oneOf` schema accepts (as `z.infer` is for zod's own). */
export type OneOfData<S> = S extends OneOf<infer T> ? T : never;

/** What `parseByType` gives for `schemas`: a value one of them accepts, with `type` the name of that schema. */
export type ByType<S extends Readonly<Record<string, z.ZodMiniType>>> = {
  [T in keyof S & string]: z.infer<S[T]> & { readonly type: T };
}[keyof S & string];

/**
 * `data` when it is an object whose `type` names one of `schemas` and that schema accepts it, else undefined: what
 * `z.discriminatedUnion('type', …)` checks, as one lookup (for the channels' messages, whose schemas are keyed by
 * their `type`). The lookup checks `type`: the schemas do not state it again, and it is given back with the value.
 */
export function parseByType<S extends Readonly<Record<string, z.ZodMiniType>>>(schemas: S, data: unknown): ByType<S> | undefined {
  const type = (data as { type?: unknown } | null | undefined)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) return undefined;
  const parsed = schemas[type]!.safeParse(data);
  return parsed.success ? ({ ...(parsed.data as object), type } as ByType<S>) : undefined;
}
