import * as z from 'zod/mini';
import { hashKey } from '../../core/digest.js';
import { type ErrorCode, SessionError, SHARED_FAILURE_CODES } from '../../core/errors.js';
import { oneOf, type OneOf, type OneOfData, tokenSchema } from '../../core/schemas.js';
import type { Token } from '../../core/token.js';
import type { KvKey } from './kv.js';

/**
 * What `denoKvSharing` keeps in Deno KV, per credential, under `[...prefix, FORMAT, <SHA-256 of the credential key>]`:
 * the key holds a digest, never a client id, a secret or a token. No record has a field for a client secret. The
 * format is part of every key, so isolates of another release never read this one's records.
 *
 * Times inside records are epoch ms of the writer's clock. KV has no clock of its own to read, and `expireIn` only
 * deletes a key *eventually* (the CLI's SQLite KV still returns it afterwards), so expiry is judged from the record;
 * the writer also sets `expireIn` so that nothing outlives its use for long. Whether a lease is alive is judged
 * without any clock but the reader's own (see `sharing.ts`).
 */
const FORMAT = 'shared-session-v1';
/** setTimeout, and so every duration here, overflows past this. */
export const MAX_DURATION = 2_147_483_647;

/** The KV keys of one credential. */
export interface Keys {
  /** The sign-out epoch: `{ epoch }`, higher at every `clear()` (at least the writer's time, epoch ms), never expires. Absent means 0. */
  readonly epoch: KvKey;
  /** The current token and the epoch it was fetched in, with `expireIn` at its expiry. */
  readonly token: KvKey;
  /** The lease of the isolate fetching a token: `{ id, epoch }`, rewritten (a new versionstamp) at every renewal. */
  readonly lease: KvKey;
  /** A failure that told everyone to wait (`retryAfter`), until `until`. */
  readonly failure: KvKey;
  /** Grants that rotate refresh tokens only: the newest refresh token, or the rotation in flight, or its end. */
  readonly grant: KvKey;
}

export function keysFor(prefix: KvKey, credentialKey: string): Keys {
  const base = [...prefix, FORMAT, hashKey(credentialKey)];
  return {
    epoch: [...base, 'epoch'],
    token: [...base, 'token'],
    lease: [...base, 'lease'],
    failure: [...base, 'failure'],
    grant: [...base, 'grant'],
  };
}

// `z.refine` with the rule written out rather than zod's named checks, and `oneOf` rather than
// `z.discriminatedUnion`: each brings code of its own into the bundle (see core/schemas.ts).
const epoch = z.number().check(z.refine((value) => Number.isSafeInteger(value) && value >= 0));
const id = z.string().check(z.refine((value) => value.length >= 1 && value.length <= 64));
const failureCode = z.literal(SHARED_FAILURE_CODES);

const epochSchema = z.object({ epoch });
const tokenRecordSchema = z.object({ epoch, token: tokenSchema });
const leaseSchema = z.object({ id, epoch });
const failureSchema = z.object({
  code: failureCode,
  until: z.number().check(z.refine((value) => value >= 0)),
  retryAfter: z.number().check(z.refine((value) => value > 0 && value <= MAX_DURATION)),
});
const grantSchema = oneOf([
  /** The refresh token the next lease holder sends. */
  z.object({ state: z.literal('ready'), epoch, refreshToken: z.string().check(z.refine((value) => value.length > 0)) }),
  /** Lease `lease` is sending the refresh token (recorded before the request): if it never finishes, it is spent. */
  z.object({ state: z.literal('rotating'), epoch, lease: id }),
  /** Signed out, or a rotation was lost: this grant is over; its refresh tokens are never sent again. */
  z.object({ state: z.literal('ended'), epoch }),
]);

export type TokenRecord = z.infer<typeof tokenRecordSchema>;
export type LeaseRecord = z.infer<typeof leaseSchema>;
export type FailureRecord = z.infer<typeof failureSchema>;
export type GrantRecord = OneOfData<typeof grantSchema>;
export type FailureCode = z.infer<typeof failureCode>;

/** One record as read: its value when well-formed, `corrupt` otherwise, and its versionstamp for the next check. */
export interface Read<T> {
  readonly value: T | undefined;
  readonly corrupt: boolean;
  readonly versionstamp: string | null;
}

function reader<T>(schema: Pick<OneOf<T>, 'safeParse'>) {
  return (entry: { value: unknown; versionstamp: string | null } | undefined): Read<T> => {
    const versionstamp = entry?.versionstamp ?? null;
    if (versionstamp === null) return { value: undefined, corrupt: false, versionstamp };
    const parsed = schema.safeParse(entry!.value);
    return parsed.success ? { value: parsed.data, corrupt: false, versionstamp } : { value: undefined, corrupt: true, versionstamp };
  };
}

export const readEpoch = reader(epochSchema);
export const readToken = reader(tokenRecordSchema);
export const readLease = reader(leaseSchema);
export const readFailure = reader(failureSchema);
export const readGrant = reader(grantSchema);

/** The stored token without extra fields a forged record may carry. */
export function tokenRecord(token: Token, currentEpoch: number): TokenRecord {
  const { accessToken, tokenType, issuedAt, expiresAt, scope } = token;
  return { epoch: currentEpoch, token: { accessToken, tokenType, issuedAt, expiresAt, ...(scope === undefined ? {} : { scope }) } };
}

/** Whether `code` may be remembered for every isolate. */
export function isFailureCode(code: string): code is FailureCode {
  return failureCode.safeParse(code).success;
}

/** A failure another isolate had, as this one reports it. `retryAfter`: what is left of the wait (ms). */
export function failureError(code: ErrorCode, retryAfter: number): SessionError {
  return new SessionError(code, `The token request of another isolate failed (${code}); retry in ${Math.ceil(retryAfter / 1000)} s`, {
    retryAfter,
  });
}

export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
