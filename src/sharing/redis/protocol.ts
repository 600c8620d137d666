import * as z from 'zod/mini';
import { SHARED_FAILURE_CODES } from '../../core/errors.js';
import { tokenSchema } from '../../core/schemas.js';
import { hashKey } from '../../core/digest.js';
import type { Token } from '../../core/token.js';

/**
 * What `redisSharing` keeps in Redis and publishes, per credential. The format version is part of every key and
 * channel, so processes of an older release never read this one's records (they coordinate among themselves).
 * Nothing here has a field for a client secret or a refresh token, by design.
 */
const FORMAT = 1;

/** The Redis names of one credential: `<prefix>v1:{<hash>}:token|lock|events`. The hash tag keeps them in one slot. */
export interface Keys {
  readonly token: string;
  readonly lock: string;
  readonly channel: string;
}

/** Keys are a SHA-256 of the credential key: its public parts (client id, token URL, scope) stay out of Redis too. */
export function keysFor(prefix: string, credentialKey: string): Keys {
  const base = `${prefix}v${FORMAT}:{${hashKey(credentialKey)}}`;
  return { token: `${base}:token`, lock: `${base}:lock`, channel: `${base}:events` };
}

/** The record under `Keys.token`, written with a TTL that ends when the token expires. */
const recordSchema = z.object({ v: z.literal(FORMAT), token: tokenSchema });

const failureCode = z.literal(SHARED_FAILURE_CODES);
/** Who sent a message: a random id per connected session, so that a process ignores its own messages. */
const from = z.string().check(z.minLength(1), z.maxLength(64));

const messageSchema = z.discriminatedUnion('type', [
  /** A token became current: written by the lock holder, published in the same script. */
  z.object({ v: z.literal(FORMAT), from, type: z.literal('token'), token: tokenSchema }),
  /** Sign-out at `at` (epoch ms): tokens issued before it are dead everywhere. */
  z.object({ v: z.literal(FORMAT), from, type: z.literal('clear'), at: z.number() }),
  /** The lock holder's token request failed; the processes waiting for it fail the same way instead of retrying. */
  z.object({ v: z.literal(FORMAT), from, type: z.literal('failed'), code: failureCode }),
]);

export type Message = z.infer<typeof messageSchema>;
export type FailureCode = z.infer<typeof failureCode>;
type Outgoing = Message extends infer M ? (M extends unknown ? Omit<M, 'v' | 'from'> : never) : never;

export function encodeRecord(token: Token): string {
  return JSON.stringify({ v: FORMAT, token });
}

/** The stored token, undefined for none, or 'corrupt' for anything that is not a record of this format. */
export function decodeRecord(value: unknown): Token | undefined | 'corrupt' {
  if (value === null || value === undefined) return undefined;
  const parsed = typeof value === 'string' ? recordSchema.safeParse(parseJson(value)) : undefined;
  return parsed?.success === true ? parsed.data.token : 'corrupt';
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

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

// Lua, so that each step is atomic. A lock's value is its holder's fencing id: only the holder that still owns the
// lock may write or release, so a holder that was paused or slow past its lease cannot overwrite a newer token.

/** KEYS: lock, token. ARGV: fencing id, record, TTL (ms), channel, message. 1 when written, 0 when the lock is lost. */
export const COMMIT_SCRIPT = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

/** KEYS: lock. ARGV: fencing id, channel, message ('' for none). Releases the lock only if it is still ours. */
export const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1`;

/** KEYS: token, lock. ARGV: channel, message. Deleting the lock too makes a request in flight unable to write. */
export const CLEAR_SCRIPT = `redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`;

/** KEYS: token. ARGV: value. Deletes an unreadable record only if it is still the one read. */
export const DELETE_IF_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;
