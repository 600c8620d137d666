import * as z from 'zod/mini';
import { type ErrorCode, SessionError, SHARED_FAILURE_CODES } from '../../core/errors.js';
import { tokenSchema } from '../../core/schemas.js';

/**
 * The wire format between Worker isolates and the `TokenCoordinator` Durable Object, and the record the coordinator
 * stores. Both sides validate everything they receive: a Durable Object outlives deployments, so an old isolate may
 * talk to a new coordinator (or the other way round) and storage may hold a record written by another version.
 *
 * Protocol (one POST per message, JSON both ways):
 * - `acquire` → `token` (the stored one, unless it is the `rejected` one or expired), `lease` (fetch it yourself,
 *   then `fulfil` or `abandon`), `failed` (the lease holder you waited for failed; its error, shared so that a
 *   token endpoint that is down sees one request chain, not one per caller) or `busy` (waited `wait` ms in vain).
 * - `fulfil` → `done` with `stored` false when the lease was taken over in the meantime or the token is older.
 * - `abandon` → `done`. `clear` → `done`.
 */
export const PROTOCOL_VERSION = 1;

const v = z.literal(PROTOCOL_VERSION);
const nonEmpty = z.string().check(z.minLength(1), z.maxLength(8192));
/** Upper bound for every duration in a message: five minutes is longer than any sane token request. */
export const MAX_DURATION = 300_000;
const duration = z.number().check(z.int(), z.nonnegative(), z.lte(MAX_DURATION));

/** A token endpoint failure as it is relayed to the isolates that waited for it. No secrets: codes and messages only. */
const failureSchema = z.object({
  code: z.string().check(z.regex(/^[a-z_]{1,40}$/)),
  message: z.string().check(z.maxLength(500)),
  status: z.optional(z.number().check(z.int())),
  retryAfter: z.optional(z.number().check(z.nonnegative())),
  oauthError: z.optional(z.string().check(z.maxLength(200))),
});

export type Failure = z.infer<typeof failureSchema>;

export const requestSchema = z.discriminatedUnion('type', [
  z.object({
    v,
    type: z.literal('acquire'),
    /** An access token the caller will not take (an API refused it, or it is too close to expiry for the caller). */
    rejected: z.optional(nonEmpty),
    /** How long the coordinator may keep the caller waiting for another isolate's token request (ms). */
    wait: duration,
    /** How long the caller may take for its token request if it gets the lease (ms). */
    lease: duration.check(z.positive()),
  }),
  z.object({
    v,
    type: z.literal('fulfil'),
    lease: nonEmpty,
    token: tokenSchema,
    refreshToken: z.optional(nonEmpty),
  }),
  z.object({ v, type: z.literal('abandon'), lease: nonEmpty, failure: z.optional(failureSchema) }),
  z.object({ v, type: z.literal('clear') }),
]);

export type CoordinatorRequest = z.infer<typeof requestSchema>;

/** Something the coordinator noticed that no answer can carry otherwise; the isolate reports it as an `error` event. */
const notice = z.optional(z.literal('corrupt_storage'));

export const answerSchema = z.discriminatedUnion('type', [
  z.object({ v, type: z.literal('token'), token: tokenSchema, notice }),
  z.object({
    v,
    type: z.literal('lease'),
    lease: nonEmpty,
    /** How long the lease lasts (ms); after that another isolate may take over. */
    ttl: duration,
    /** The newest refresh token, for grants that rotate it. Only ever sent to the lease holder. */
    refreshToken: z.optional(nonEmpty),
    notice,
  }),
  z.object({ v, type: z.literal('failed'), failure: failureSchema }),
  z.object({ v, type: z.literal('busy') }),
  z.object({ v, type: z.literal('done'), stored: z.optional(z.boolean()) }),
]);

export type CoordinatorAnswer = z.infer<typeof answerSchema>;

/** What the coordinator keeps in Durable Object storage under {@link RECORD_KEY}. Never a client secret. */
export const recordSchema = z.object({
  v,
  token: tokenSchema,
  /** Kept only for grants that rotate refresh tokens (see the README): another isolate must continue the chain. */
  refreshToken: z.optional(nonEmpty),
});

export type StoredRecord = z.infer<typeof recordSchema>;

export const RECORD_KEY = 'token';

/** Failures relayed to every waiting isolate (see `SHARED_FAILURE_CODES`). */
const RELAYED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(SHARED_FAILURE_CODES);

/** The part of a failed token request that may travel to other isolates, or undefined when it must not. */
export function describeFailure(error: SessionError): Failure | undefined {
  if (!RELAYED.has(error.code)) return undefined;
  const failure: Failure = { code: error.code, message: error.message.slice(0, 500) };
  if (error.status !== undefined) failure.status = error.status;
  if (error.retryAfter !== undefined) failure.retryAfter = error.retryAfter;
  if (error.oauthError !== undefined) failure.oauthError = error.oauthError.slice(0, 200);
  return failure;
}

/** The error an isolate throws for a failure relayed by the coordinator. Unknown codes become `request_failed`. */
export function failureError(failure: Failure): SessionError {
  const code = RELAYED.has(failure.code as ErrorCode) ? (failure.code as ErrorCode) : 'request_failed';
  return new SessionError(code, failure.message, {
    status: failure.status,
    retryAfter: failure.retryAfter,
    oauthError: failure.oauthError,
  });
}
