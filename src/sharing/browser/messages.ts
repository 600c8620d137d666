import * as z from 'zod/mini';
import { hashKey } from '../../core/digest.js';
import { SHARED_FAILURE_CODES } from '../../core/errors.js';
import { type ByType, parseByType, tokenSchema } from '../../core/schemas.js';

/**
 * The wire and storage format of browser sharing. Its version is part of the channel and database names, so that
 * tabs still running an older release never read this one's records or messages (they elect their own leader
 * instead). 2: request ids, `failed` answers a request and carries `retryAfter`, `busy`, the sign-out in the record,
 * SHA-256 names.
 */
export const FORMAT = 2;

/** The IndexedDB database of browser sharing: a dedicated one, since idb-keyval cannot add a store to another. */
export const DATABASE = `shared-session-v${FORMAT}`;

/**
 * The BroadcastChannel (and, through broadcast-channel, the Web Locks) of one credential: never the key in clear,
 * and SHA-256 (`hashKey`, as the record's id), so that no two credentials can be made to share them.
 */
export function channelName(key: string): string {
  return `${DATABASE}:${hashKey(key)}`;
}

const head = { v: z.literal(FORMAT), key: z.string() };
// `z.refine` rather than zod's named checks: see core/schemas.ts.
const time = z.number().check(z.refine((value) => value >= 0));
const requestId = z.string().check(z.refine((value) => value.length >= 1 && value.length <= 64));

/** The codes a failed token request can carry from the leader to the contexts that asked it. */
const failureCode = z.literal(SHARED_FAILURE_CODES);

/**
 * Every message on a credential's channel, by `type` (its key here: `parseByType` checks it). Refresh tokens and
 * secrets have no field here, by design.
 */
const messageSchemas = {
  /** A token became current (sent by whoever fetched it, or by the leader answering a request). */
  token: z.object({ ...head, token: tokenSchema }),
  /** A context needs a token; `rejected` is one it must not get back; `id` names the request for its answer. */
  request: z.object({ ...head, id: requestId, rejected: z.optional(z.string()) }),
  /** The leader could not get a token for request `id`; `retryAfter` (ms) when the server asked to wait. */
  failed: z.object({ ...head, id: requestId, code: failureCode, retryAfter: z.optional(time) }),
  /** The sender holds the credential's request lock and is still working on it: keep waiting. */
  busy: z.object(head),
  /** Sign-out at `at` (epoch ms): tokens issued before it are dead everywhere. */
  clear: z.object({ ...head, at: time }),
  /** The sender just became leader: ask again if you are waiting. */
  leader: z.object(head),
  /** broadcast-channel's leader election traffic (it matters when Web Locks are missing). */
  election: z.object({
    ...head,
    data: z.object({ context: z.literal('leader'), action: z.literal(['apply', 'tell', 'death']), token: z.string() }),
  }),
};

/** A validated message of this format. */
export type Message = ByType<typeof messageSchemas>;
/** A message without its envelope: what a context sends (`envelope` adds the rest). */
export type Outgoing = WithoutEnvelope<Message>;
type WithoutEnvelope<M> = M extends unknown ? Omit<M, 'v' | 'key'> : never;
/** An error code a `failed` message may carry. */
export type FailureCode = z.infer<typeof failureCode>;

/** The message in `data` when it is a well-formed one of this format, else undefined. */
export function parseMessage(data: unknown): Message | undefined {
  return parseByType(messageSchemas, data);
}

/**
 * The one IndexedDB record of a credential: its token (with `refreshToken` only for providers that need it after a
 * failover) and the time of its last sign-out, `clearedAt`, below which no token is ever handed out again. A record
 * that holds only `clearedAt` is the sign-out itself, kept so that contexts opened later know of it. `rotating`: the
 * Web Lock of the context that is sending the record's refresh token (written before the request leaves, removed with
 * the answer's write): nobody else sends that refresh token while it is set.
 */
export const recordSchema = z.object({
  ...head,
  clearedAt: z.optional(time),
  token: z.optional(tokenSchema),
  refreshToken: z.optional(z.string()),
  rotating: z.optional(z.string().check(z.refine((value) => value.length <= 200))),
});

/** A validated record of this format. */
export type StoredRecord = z.infer<typeof recordSchema>;

/** Stamps a message with the format version and the credential key (checked on receipt, against collisions). */
export function envelope(key: string, message: Outgoing): Message {
  return { v: FORMAT, key, ...message } as Message;
}

/** Whether `code` is one a failed token request can have (so a forged `failed` cannot smuggle another code). */
export function isFailureCode(code: string): code is FailureCode {
  return failureCode.safeParse(code).success;
}
