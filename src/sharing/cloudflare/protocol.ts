import * as z from 'zod/mini';
import { type ErrorCode, SessionError, SHARED_FAILURE_CODES } from '../../core/errors.js';
import { boolean, oneOf, type OneOfData, tokenSchema } from '../../core/schemas.js';

/**
 * The wire format between Worker isolates and the `TokenCoordinator` Durable Object, and the state the coordinator
 * stores. Both sides validate everything they receive: a Durable Object outlives deployments, so an old isolate may
 * talk to a new coordinator (or the other way round) and storage may hold a record written by another version.
 *
 * Protocol (one POST per message, JSON both ways):
 * - `acquire` → `token` (the stored one, unless it is the `rejected` one or expired), `lease` (fetch it yourself,
 *   `renew` it while you work, then `fulfil` or `abandon`), `failed` (the lease holder you waited for failed, or a
 *   failure's `retryAfter` has not passed yet: its error, shared so that a token endpoint that is down or rate limiting
 *   sees one request chain, not one per caller), `busy` (waited `wait` ms in vain) or `signed_out` (the caller's
 *   refresh-token chain began before a sign-out: it must not continue).
 * - `fulfil` → `done` with `stored` false when the lease is not the current one (never granted, taken over, or
 *   revoked by a sign-out: then `epoch` differs from the lease's) or the token is older or expired.
 * - `renew` → `done` with `stored` true when the lease was still current and now lasts its `ttl` again.
 * - `abandon` → `done`; with `spent`, the chain's refresh token was refused and every isolate is signed out.
 * - `acquire` with `start` (a refresh-token chain's initial token's digest) while no chain runs: `signed_out` when a
 *   chain from that start ended here (its initial token is spent), else a lease that starts a new chain.
 *   `clear` → `done`.
 *
 * Version 2: leases, the sign-out epoch and a remembered `retryAfter` are kept in storage (v1 kept them in memory);
 * answers carry the `epoch`; `renew` and `signed_out` are new. A v1 message gets HTTP 400.
 *
 * Clocks: a token's times are epoch ms of the clock that wrote them, and isolates (the `clock` option, other
 * machines) need not agree with the coordinator. So `fulfil` and the `token` answer carry the sender's `now`, and the
 * receiver moves the token's times into its own clock ({@link inClockOf}) before it judges expiry. The `token`
 * answer's `now` is the coordinator's clock when the `acquire` arrived (not when it was answered, after a wait for
 * another isolate's token request): the isolate pairs it with the time it sent the request. Both are optional,
 * so either side of another 0.x release still understands the other (it then compares times as they are).
 */
export const PROTOCOL_VERSION = 2;

const v = z.literal(PROTOCOL_VERSION);
// `z.refine` rather than zod's named checks, for the bundle's size: see core/schemas.ts.
const nonEmpty = z.string().check(z.refine((value) => value.length >= 1 && value.length <= 8192));
/** Upper bound for every duration in a message: five minutes is longer than any sane token request. */
export const MAX_DURATION = 300_000;
const duration = z.number().check(z.refine((value) => Number.isSafeInteger(value) && value >= 0 && value <= MAX_DURATION));
/** Longest `Retry-After` (ms) that is remembered: an hour, as in the session core; a longer or infinite one, this long. */
export const MAX_RETRY_AFTER = 3_600_000;
/** Bumped by every sign-out; a lease or token of another epoch is void. */
const epoch = z.number().check(z.refine((value) => Number.isSafeInteger(value) && value >= 0));
const time = z.number().check(z.refine((value) => value >= 0));
/**
 * The sender's clock (epoch ms) when it sent the message — for the `token` answer, when the `acquire` it answers
 * arrived: what the receiver needs to read the token's times.
 */
const now = z.optional(z.number().check(z.refine((value) => value >= 0 && value <= 8.64e15)));

/**
 * A digest of the refresh token a chain started from (`SharingPeer.initialRefreshTokenDigest`): `hashKey`'s 22
 * base64url characters, never the token.
 */
const isChainStart = (value: unknown): value is string => typeof value === 'string' && /^[\w-]{22}$/.test(value);
const chainStart = z.custom<string>(isChainStart);
/**
 * How many ended chains the coordinator remembers (their starts' digests, newest last). A start forgotten past this
 * many may be sent once more by a brand-new isolate: the provider refuses it and that chain ends again.
 */
export const MAX_ENDED_CHAINS = 64;

/** A token endpoint failure as it is relayed to the isolates that waited for it. No secrets: codes and messages only. */
const failureSchema = z.object({
  code: z.string().check(z.refine((value) => /^[a-z_]{1,40}$/.test(value))),
  message: z.string().check(z.refine((value) => value.length <= 500)),
  status: z.optional(z.number().check(z.refine((value) => Number.isSafeInteger(value)))),
  retryAfter: z.optional(z.number().check(z.refine((value) => value >= 0 && value <= MAX_RETRY_AFTER))),
  oauthError: z.optional(z.string().check(z.refine((value) => value.length <= 200))),
});

export type Failure = z.infer<typeof failureSchema>;

export const requestSchema = oneOf([
  z.object({
    v,
    type: z.literal('acquire'),
    /** An access token the caller will not take (an API refused it, or it is too close to expiry for the caller). */
    rejected: z.optional(nonEmpty),
    /** How long the coordinator may keep the caller waiting for another isolate's token request (ms). */
    wait: duration,
    /** How long the caller's lease lasts without a `renew` if it gets one (ms). */
    lease: duration.check(z.refine((value) => value > 0)),
    /** Refresh-token chains only: the epoch the caller's chain belongs to (from an earlier answer). */
    epoch: z.optional(epoch),
    /**
     * Refresh-token chains only: the digest of the refresh token the caller's provider starts from. A chain that
     * started from it and ended is not started again: a brand-new isolate would send its spent initial token.
     */
    start: z.optional(chainStart),
  }),
  z.object({
    v,
    type: z.literal('fulfil'),
    lease: nonEmpty,
    token: tokenSchema,
    refreshToken: z.optional(nonEmpty),
    now,
  }),
  z.object({ v, type: z.literal('renew'), lease: nonEmpty }),
  z.object({
    v,
    type: z.literal('abandon'),
    lease: nonEmpty,
    failure: z.optional(failureSchema),
    /**
     * The token endpoint refused the chain's refresh token (`invalid_grant`): it is spent, and the chain ends for every
     * isolate (a sign-out, in the same write as the release). See `rules/refresh-chain.ts`.
     */
    spent: z.optional(z.literal(true)),
  }),
  z.object({ v, type: z.literal('clear') }),
]);

export type CoordinatorRequest = OneOfData<typeof requestSchema>;

/** Something the coordinator noticed that no answer can carry otherwise; the isolate reports it as an `error` event. */
const notice = z.optional(z.literal('corrupt_storage'));

export const answerSchema = oneOf([
  z.object({ v, type: z.literal('token'), token: tokenSchema, epoch, notice, now }),
  z.object({
    v,
    type: z.literal('lease'),
    lease: nonEmpty,
    /** How long the lease lasts without a `renew` (ms); after that another isolate may take over. */
    ttl: duration,
    epoch,
    /** The newest refresh token, for grants that rotate it. Only ever sent to the lease holder. */
    refreshToken: z.optional(nonEmpty),
    notice,
  }),
  z.object({ v, type: z.literal('failed'), failure: failureSchema }),
  z.object({ v, type: z.literal('busy') }),
  z.object({ v, type: z.literal('signed_out'), epoch }),
  z.object({ v, type: z.literal('done'), stored: z.optional(boolean), epoch: z.optional(epoch) }),
]);

export type CoordinatorAnswer = OneOfData<typeof answerSchema>;

/**
 * What the coordinator keeps in Durable Object storage under {@link STATE_KEY}: everything a restarted coordinator
 * needs to keep its promises. Never a client secret.
 */
export const stateSchema = z.object({
  v,
  /** Changes at every sign-out (and when the state was lost): what belongs to another epoch is void. */
  epoch,
  token: z.optional(
    z.object({
      token: tokenSchema,
      epoch,
      /** Kept only for grants that rotate refresh tokens (see the README): another isolate must continue the chain. */
      refreshToken: z.optional(nonEmpty),
      /** The refresh token was handed to a lease holder that vanished: handed out once more, never a third time. */
      lapsed: z.optional(z.literal(true)),
      /** The digest of the refresh token this chain started from, remembered in `ended` when the chain ends. */
      start: z.optional(chainStart),
    }),
  ),
  /**
   * The one isolate that may fetch now. `expiresAt` is this coordinator's clock; `ttl` is what a renewal grants;
   * `rotating`: it was handed the stored refresh token. `start`: it starts a chain from the initial refresh token of
   * that digest (no refresh token was stored); `lapsed`: a holder of that same start vanished before this one.
   */
  lease: z.optional(
    z.object({
      id: nonEmpty,
      expiresAt: time,
      ttl: duration,
      epoch,
      rotating: z.optional(z.literal(true)),
      start: z.optional(chainStart),
      lapsed: z.optional(z.literal(true)),
    }),
  ),
  /**
   * A failure with `retryAfter` (a 429's `Retry-After`, or the back-off after a failed retry chain): every caller gets
   * it until `until`, and nobody calls the endpoint meanwhile.
   */
  backoff: z.optional(z.object({ failure: failureSchema, until: time })),
  /**
   * The starts (digests of the initial refresh tokens) of the chains that ended here, newest last, at most
   * {@link MAX_ENDED_CHAINS}: an isolate starting from one of them is signed out instead of sending it (it is spent).
   * A new refresh token in the Worker's env has a new digest, and starts a new chain.
   */
  // `z.custom` with the test of `z.array(chainStart)`: zod's array code is about 0.4 KB gzip more in the Worker.
  ended: z.optional(z.custom<string[]>((value) => Array.isArray(value) && value.length <= MAX_ENDED_CHAINS && value.every(isChainStart))),
});

export type StoredState = z.infer<typeof stateSchema>;

/** Storage key of the state, named after its format version. */
export const STATE_KEY = 'state-v2';

/** What a version 1 coordinator stored under {@link LEGACY_RECORD_KEY}: carried over once, then deleted. */
export const legacyRecordSchema = z.object({
  v: z.literal(1),
  token: tokenSchema,
  refreshToken: z.optional(nonEmpty),
});

export const LEGACY_RECORD_KEY = 'token';

/**
 * `token`, whose times are in the clock of a sender that said it was `senderNow`, in the clock of a receiver at
 * `receiverNow`: moved by the difference, so that its age and lifetime stay what they are. A receiver passes the time
 * it *sent* its request when it reads an answer whose `now` was read when that request arrived, so the way there can
 * only shorten the token's life as it sees it, never lengthen it.
 */
export function inClockOf<T extends { issuedAt: number; expiresAt: number }>(token: T, senderNow: number | undefined, receiverNow: number): T {
  if (senderNow === undefined) return token;
  const shift = receiverNow - senderNow;
  return { ...token, issuedAt: Math.max(0, token.issuedAt + shift), expiresAt: Math.max(0, token.expiresAt + shift) };
}

/** Failures relayed to every waiting isolate (see `SHARED_FAILURE_CODES`). */
const RELAYED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(SHARED_FAILURE_CODES);

/** The part of a failed token request that may travel to other isolates, or undefined when it must not. */
export function describeFailure(error: SessionError): Failure | undefined {
  if (!RELAYED.has(error.code)) return undefined;
  const failure: Failure = { code: error.code, message: error.message.slice(0, 500) };
  if (error.status !== undefined) failure.status = error.status;
  if (error.retryAfter !== undefined && error.retryAfter >= 0) failure.retryAfter = Math.min(error.retryAfter, MAX_RETRY_AFTER);
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
