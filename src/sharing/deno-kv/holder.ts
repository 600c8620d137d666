import { isSessionError, SessionError } from '../../core/errors.js';
import { isNewer, type Token, type TokenSet } from '../../core/token.js';
import type { DenoKvLink, Snapshot } from './link.js';
import { isFailureCode, tokenRecord } from './records.js';

/** The lease this isolate holds: its id, the versionstamp of its last write, and what was read when it was taken. */
export interface Lease {
  readonly id: string;
  versionstamp: string;
  readonly snapshot: Snapshot;
  /** For a rotating grant: the refresh token to send (undefined: the provider's own, the chain has not begun). */
  readonly refreshToken: string | undefined;
}

/** Renewals of a lease are at least this far apart (ms), however short the lease. */
const RENEW_AT_LEAST_EVERY = 50;
/**
 * Failures after which the refresh token that was sent may have been exchanged (an answer that was refused, a grant
 * the server rejected, a request abandoned on its way): the rotation stays recorded as in flight, so it is never
 * sent again. After any other failure the server answered with an error, or was not reached, and it is still good.
 */
const MAY_HAVE_SPENT = new Set(['invalid_response', 'invalid_grant', 'aborted', 'closed']);

/** This isolate holds the lease: fetch here (where the secret is), renewing the lease, then store the token. */
export async function fetchUnderLease(link: DenoKvLink, lease: Lease): Promise<Token> {
  const stopRenewing = renewWhileWorking(link, lease);
  let set: TokenSet;
  try {
    set = await link.peer.fetchToken(lease.refreshToken);
  } catch (error) {
    await stopRenewing();
    // Best effort: if this is lost, the waiting isolates take over when the lease is seen unrenewed.
    await abandon(link, lease, error).catch((lost: unknown) => link.peer.report(degraded(lost)));
    throw error;
  }
  await stopRenewing();
  return commit(link, lease, set);
}

/**
 * Extends the lease every third of `leaseTime` while the token request runs (a retry chain may outlast it), so a
 * live holder is never replaced. Each renewal is a new versionstamp, checked against the last: once it is lost, it
 * stops. Stopping waits for a renewal in flight, so that the commit checks the lease's latest versionstamp.
 */
function renewWhileWorking(link: DenoKvLink, lease: Lease): () => Promise<void> {
  const { kv, leaseTime } = link.settings;
  const key = link.keys.lease;
  let inFlight: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    const op = kv
      .atomic()
      .check({ key, versionstamp: lease.versionstamp })
      .set(key, { id: lease.id, epoch: lease.snapshot.epoch }, { expireIn: leaseTime });
    inFlight = link
      .call(() => op.commit())
      .then(
        (result) => (result.ok ? (lease.versionstamp = result.versionstamp) : clearInterval(timer)),
        () => undefined, // KV unavailable: try again next time; the lease may lapse meanwhile
      );
  }, Math.max(RENEW_AT_LEAST_EVERY, Math.floor(leaseTime / 3)));
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}

/**
 * The token request failed: release the lease, remember a failure that says when to retry (for every isolate), and
 * give a rotating grant its refresh token back when it cannot have been spent. Only while the lease is ours.
 */
async function abandon(link: DenoKvLink, lease: Lease, error: unknown): Promise<void> {
  const { keys, peer } = link;
  const code = isSessionError(error) ? error.code : 'request_failed';
  const retryAfter = isSessionError(error) ? error.retryAfter : undefined;
  const op = link.settings.kv.atomic().check({ key: keys.lease, versionstamp: lease.versionstamp }).delete(keys.lease);
  if (isFailureCode(code) && retryAfter !== undefined && retryAfter > 0) {
    const wait = Math.min(Math.ceil(retryAfter), 2_147_483_647);
    op.set(keys.failure, { code, until: peer.clock.now() + wait, retryAfter: wait }, { expireIn: wait });
  }
  if (peer.usesRefreshToken && !MAY_HAVE_SPENT.has(code)) {
    const epoch = lease.snapshot.epoch;
    if (lease.refreshToken === undefined) op.delete(keys.grant);
    else op.set(keys.grant, { state: 'ready', epoch, refreshToken: lease.refreshToken });
  }
  await link.call(() => op.commit());
}

/**
 * Stores the token under the lease it was fetched with, in the epoch it was requested in. Otherwise: a sign-out
 * meanwhile kills it everywhere, here too; a newer holder keeps its own token in KV (ours serves our callers); and a
 * lease that lapsed with nobody taking over lets it in only if it is newer than the stored one.
 */
async function commit(link: DenoKvLink, lease: Lease, set: TokenSet): Promise<Token> {
  const { keys, peer } = link;
  const { kv } = link.settings;
  const { token } = set;
  const { epoch, epochVersion } = lease.snapshot;
  const ttl = Math.floor(token.expiresAt - peer.clock.now());
  const write = (check: { key: typeof keys.lease; versionstamp: string | null }, tokenVersion?: string | null) => {
    const op = kv
      .atomic()
      .check({ key: keys.epoch, versionstamp: epochVersion }, check)
      .set(keys.token, tokenRecord(token, epoch), { expireIn: Math.max(1, ttl) })
      .delete(keys.lease)
      .delete(keys.failure);
    if (tokenVersion !== undefined) op.check({ key: keys.token, versionstamp: tokenVersion });
    if (peer.usesRefreshToken) {
      const refreshToken = set.refreshToken ?? lease.refreshToken;
      if (refreshToken === undefined) op.delete(keys.grant);
      else op.set(keys.grant, { state: 'ready', epoch, refreshToken });
    }
    return link.call(() => op.commit());
  };
  try {
    if ((await write({ key: keys.lease, versionstamp: lease.versionstamp })).ok) return token;
    const now = await link.read();
    if (now.epoch !== epoch) {
      // Signed out while the request was on its way: this token was requested before the sign-out.
      if (peer.usesRefreshToken) return await link.signedOut();
      throw new SessionError('aborted', 'Signed out in another isolate while this token was requested');
    }
    if (now.lease.versionstamp !== null) return token; // a newer holder: its token wins in KV
    const stored = now.token.value;
    const newer = stored === undefined || stored.epoch !== epoch || isNewer(token, stored.token);
    const grantOurs = !peer.usesRefreshToken || (now.grant.value?.state === 'rotating' && now.grant.value.lease === lease.id);
    // An expired token (late answers, see SessionCore.fetchToken) is written for its refresh token, the grant's newest.
    if (newer && grantOurs && (ttl > 0 || peer.usesRefreshToken)) await write({ key: keys.lease, versionstamp: null }, now.token.versionstamp);
  } catch (error) {
    if (isSessionError(error, 'aborted') || isSessionError(error, 'login_required')) throw error;
    // This isolate has its token; the others get theirs when they take over. Say so, do not fail.
    peer.report(degraded(error));
  }
  return token;
}

function degraded(cause: unknown): SessionError {
  return new SessionError('sharing_degraded', 'The token could not be handed to Deno KV', { cause });
}
