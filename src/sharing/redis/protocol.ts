import * as z from 'zod/mini';
import { oneOf, type OneOfData } from '../../core/schemas.js';
import { SHARED_FAILURE_CODES } from '../../core/errors.js';
import { hashKey } from '../../core/digest.js';
import type { Token } from '../../core/token.js';

/**
 * What `redisSharing` keeps in Redis and publishes, per credential. The format version is part of every key and
 * channel, so processes of another release never read this one's records (they coordinate among themselves).
 * Nothing here has a field for a client secret or a refresh token, by design.
 *
 * No absolute time crosses a process boundary: machines' clocks differ. A stored token's remaining life is its key's
 * TTL, which Redis counts down itself; each reader turns it into its own clock's epoch ms (`tokenFromRecord`). A
 * sign-out is an epoch counter, not a timestamp, and remembered failures keep their `retryAfter` as a TTL too.
 *
 * Version 2: tokens are stored and read with relative times, sign-outs are persisted as an epoch, failures are
 * remembered, and messages no longer carry the access token. Version 1 processes use other names, so a fleet
 * that is half upgraded coordinates in two groups (one request per group) until the old processes are gone.
 */
const FORMAT = 2;
/** setTimeout, and so every duration here, overflows past this. */
const MAX_DURATION = 2_147_483_647;

/** The Redis names of one credential: `<prefix>v2:{<hash>}:…`. The hash tag keeps them in one Cluster slot. */
export interface Keys {
  /** The current token, with a TTL that ends at its expiry. */
  readonly token: string;
  /** The fencing id of the process fetching a token, with a TTL of `leaseTime` that the holder renews while it works. */
  readonly lock: string;
  /** The sign-out counter: incremented by every `clear()`, never expires. Tokens fetched under an older one are dead. */
  readonly epoch: string;
  /** A failure that told everyone to wait (`retryAfter`), with a TTL of that wait. */
  readonly failure: string;
  readonly channel: string;
}

/** Keys are a SHA-256 of the credential key: its public parts (client id, token URL, scope) stay out of Redis too. */
export function keysFor(prefix: string, credentialKey: string): Keys {
  const base = `${prefix}v${FORMAT}:{${hashKey(credentialKey)}}`;
  return {
    token: `${base}:token`,
    lock: `${base}:lock`,
    epoch: `${base}:epoch`,
    failure: `${base}:failure`,
    channel: `${base}:events`,
  };
}

// `z.refine` rather than zod's named checks, for the bundle's size: see core/schemas.ts.
const nonEmpty = z.string().check(z.refine((value) => value.length >= 1));
const duration = z.number().check(z.refine((value) => value > 0 && value <= MAX_DURATION));
/** A fencing id: the link's id, a dot, a random part. */
const lease = z.string().check(z.refine((value) => value.length >= 1 && value.length <= 64));
const failureCode = z.literal(SHARED_FAILURE_CODES);
/** Who sent a message: a random id per connected session, so that a process ignores its own messages. */
const from = z.string().check(z.refine((value) => value.length >= 1 && value.length <= 64));

/** The stored token: no times but its lifetime; its remaining life is the key's TTL. */
const recordSchema = z.object({
  v: z.literal(FORMAT),
  token: z.object({
    accessToken: nonEmpty,
    tokenType: nonEmpty,
    /** `expiresAt - issuedAt` as the fetching process saw it (ms): the refresh margin depends on it. */
    lifetime: duration,
    scope: z.optional(z.string()),
  }),
});

/** The remembered failure: its remaining `retryAfter` is the key's TTL. */
const failureSchema = z.object({ v: z.literal(FORMAT), code: failureCode, lease });

const messageSchema = oneOf([
  /** A token became current (stored by the lock holder `lease` in the same script): read it from the token key. */
  z.object({ v: z.literal(FORMAT), from, type: z.literal('token'), lease }),
  /** Sign-out: the epoch is now `epoch`; tokens fetched before it are dead everywhere. */
  z.object({ v: z.literal(FORMAT), from, type: z.literal('clear'), epoch: z.number().check(z.refine((value) => Number.isSafeInteger(value) && value >= 0)) }),
  /** The token request of lock holder `lease` failed: whoever waits for that lease fails the same way. */
  z.object({ v: z.literal(FORMAT), from, type: z.literal('failed'), lease, code: failureCode, retryAfter: z.optional(duration) }),
]);

export type Message = OneOfData<typeof messageSchema>;
export type FailureCode = z.infer<typeof failureCode>;
type Outgoing = Message extends infer M ? (M extends unknown ? Omit<M, 'v' | 'from'> : never) : never;

/** The record for `token` (times dropped: the key's TTL carries them). */
export function encodeRecord(token: Token): string {
  const { accessToken, tokenType, scope } = token;
  const lifetime = Math.min(MAX_DURATION, Math.max(1, Math.floor(token.expiresAt - token.issuedAt)));
  return JSON.stringify({ v: FORMAT, token: { accessToken, tokenType, lifetime, ...(scope === undefined ? {} : { scope }) } });
}

/** A stored record as read: the token fields and its lifetime, undefined for none, 'corrupt' for anything else. */
export type StoredToken = z.infer<typeof recordSchema>['token'];

export function decodeRecord(value: unknown): StoredToken | undefined | 'corrupt' {
  if (value === null || value === undefined) return undefined;
  const parsed = typeof value === 'string' ? recordSchema.safeParse(parseJson(value)) : undefined;
  return parsed?.success === true ? parsed.data.token : 'corrupt';
}

/**
 * The token in the reader's clock: it expires `ttl` ms after `sentAt` (when the read was sent, so the round trip can
 * only shorten its life), and was issued `lifetime` before that. The caller bounds it by its clock (boundedByClock).
 */
export function tokenFromRecord(stored: StoredToken, ttl: number, sentAt: number): Token {
  const expiresAt = sentAt + ttl;
  const { accessToken, tokenType, scope, lifetime } = stored;
  return { accessToken, tokenType, expiresAt, issuedAt: expiresAt - lifetime, ...(scope === undefined ? {} : { scope }) };
}

export function encodeFailure(code: FailureCode, holder: string): string {
  return JSON.stringify({ v: FORMAT, code, lease: holder });
}

export function decodeFailure(value: unknown): z.infer<typeof failureSchema> | undefined | 'corrupt' {
  if (value === null || value === undefined) return undefined;
  const parsed = typeof value === 'string' ? failureSchema.safeParse(parseJson(value)) : undefined;
  return parsed?.success === true ? parsed.data : 'corrupt';
}

export function encodeMessage(sender: string, message: Outgoing): string {
  return JSON.stringify({ v: FORMAT, from: sender, ...message });
}

export function decodeMessage(value: string): Message | undefined {
  const parsed = messageSchema.safeParse(parseJson(value));
  return parsed.success ? parsed.data : undefined;
}

/** Whether `code` may travel in a `failed` message. */
export function isFailureCode(code: string): code is FailureCode {
  return failureCode.safeParse(code).success;
}

/** An epoch as Redis returns it (a string, or nil before the first sign-out); anything else counts as 0, as in Lua. */
export function decodeEpoch(value: unknown): number {
  const epoch = typeof value === 'string' || typeof value === 'number' ? Number(value) : 0;
  return Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : 0;
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

// Lua, so that each step is atomic. A lock's value is its holder's fencing id. `epochOf(GET epoch)` reads the
// epoch the same way everywhere, as `decodeEpoch` does (a missing or foreign value counts as 0). Every key of a
// script shares one hash tag.

/** KEYS: token, epoch, failure. Returns [record, its TTL, epoch, failure, its TTL]: one round trip for a reader. */
export const READ_SCRIPT = `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]),
redis.call('GET', KEYS[3]), redis.call('PTTL', KEYS[3])}`;

/**
 * PUBLISH that a missing channel permission (an ACL user without `&<prefix>*`, Redis 7's default for new users) does
 * not fail: what the script stored stays stored, processes learn it by reading Redis, and the script says whether the
 * message went out (`published`).
 */
const PUBLISH = `local function publish(channel, message)
  return type(redis.pcall('PUBLISH', channel, message)) == 'number'
end`;

/**
 * An epoch as stored, read the way `decodeEpoch` reads it: a whole number from 0 to 2^53 - 1, anything else (a value
 * written by something else) 0. Lua's `tonumber` alone would take '1.5' as 1.5 where TypeScript takes 0, and no commit
 * could ever match: every token request of the fleet would fail, for ever.
 */
const EPOCH_OF = `local function epochOf(value)
  local n = tonumber(value)
  if n and n >= 0 and n == math.floor(n) and n < 9007199254740992 then return n end
  return 0
end`;

/** Redis's own clock in ms, in Lua (`TIME` is seconds and microseconds). */
const REDIS_NOW = `local now = redis.call('TIME')
now = now[1] * 1000 + math.floor(now[2] / 1000)`;

/**
 * KEYS: lock, token, epoch, failure. ARGV: fencing id, lease time (ms).
 * A remembered failure wins: [0, failure, its TTL, epoch]. Another holder: [1, its fencing id, 0, epoch].
 * Otherwise the lock is ours, and the token is read under it: [2, record, its TTL, epoch, Redis's clock (ms)]; a
 * missing epoch is made to exist (0), so that a commit can tell it from one that Redis lost meanwhile.
 */
export const ACQUIRE_SCRIPT = `local epoch = redis.call('GET', KEYS[3])
local failure = redis.call('GET', KEYS[4])
if failure then return {0, failure, redis.call('PTTL', KEYS[4]), epoch} end
local holder = redis.call('GET', KEYS[1])
if holder then return {1, holder, 0, epoch} end
${REDIS_NOW}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if not epoch then redis.call('SET', KEYS[3], '0') end
return {2, redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[2]), epoch, now}`;

/** KEYS: lock. ARGV: fencing id, lease time (ms). Extends the lease while its holder works: 1, or 0 when it is lost. */
export const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/**
 * KEYS: lock, token, epoch. ARGV: fencing id, record, TTL (ms), epoch at acquisition, channel, message, and when the
 * command was sent in Redis's clock (ms; the acquisition's `TIME` plus the time the holder spent since; '' unknown).
 * [-1, epoch]: a sign-out happened since the lock was taken; the token is dead (the lock, if still ours, is given
 * back: the others need not wait for the lease). [-2]: the epoch is gone (the
 * acquisition made it exist): Redis lost its data since, perhaps a sign-out with it, so the token is dead too (a lost
 * epoch reads as 0, and so would pass for the epoch 0 a request started under). [0]: another holder has the lock, or
 * (lock expired, nobody took over) a token that lives longer is stored, or the command ran so late (a paused Redis, a
 * client that queued it while reconnecting) that the token has no life left. [1]: stored, lock released, published;
 * [1, 0]: the same, but the user may not publish (the others find the token when they read Redis).
 * The TTL is shortened by how late the command runs: a TTL counted from its sending would make the token outlive
 * itself in Redis by that much, and every reader hand it out after it expired.
 */
export const COMMIT_SCRIPT = `${PUBLISH}
${EPOCH_OF}
local epoch = redis.call('GET', KEYS[3])
local mine = redis.call('GET', KEYS[1]) == ARGV[1]
if not epoch or epochOf(epoch) ~= tonumber(ARGV[4]) then
  if mine then redis.call('DEL', KEYS[1]) end
  if not epoch then return {-2} end
  return {-1, epoch}
end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0} end
${REDIS_NOW}
local ttl = tonumber(ARGV[3])
local sent = tonumber(ARGV[7])
if sent then ttl = math.floor(ttl - math.max(0, now - sent)) end
if ttl <= 0 then return {0} end
if not holder and redis.call('PTTL', KEYS[2]) >= ttl then return {0} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
if holder then redis.call('DEL', KEYS[1]) end
if publish(ARGV[5], ARGV[6]) then return {1} end
return {1, 0}`;

/**
 * KEYS: lock, failure. ARGV: fencing id, channel, message ('' for none), failure record ('' for none), its TTL (ms).
 * Publishes the failure and remembers one that carries `retryAfter` (unless a longer one is remembered), then
 * releases the lock if it is still ours.
 */
export const RELEASE_SCRIPT = `${PUBLISH}
if ARGV[4] ~= '' and redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
end
if ARGV[3] ~= '' then publish(ARGV[2], ARGV[3]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`;

/**
 * KEYS: epoch, token, lock. ARGV: the epoch the caller knows, channel, sender id.
 * Sign-out: the epoch becomes one more than the highest known (so it moves forward even if Redis lost it), the token
 * and the lock go (a request in flight can no longer store its token), and every process is told. Returns
 * [epoch, published]: published 0 when the user may not publish (the others learn the epoch by reading it).
 * The token goes before the epoch moves: a script that fails half-way (an ACL without DEL) keeps what it wrote, and
 * an epoch moved over a token still stored would make every reader take that token as current.
 */
export const CLEAR_SCRIPT = `${PUBLISH}
${EPOCH_OF}
local epoch = math.max(epochOf(redis.call('GET', KEYS[1])), tonumber(ARGV[1])) + 1
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], epoch)
return {epoch, publish(ARGV[2], cjson.encode({v = ${FORMAT}, from = ARGV[3], type = 'clear', epoch = epoch})) and 1 or 0}`;

/** KEYS: key. ARGV: value. Deletes an unreadable record only if it is still the one read. */
export const DELETE_IF_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;
