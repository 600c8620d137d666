import { SessionError } from '../../core/errors.js';
import { boundedByClock, isExpired, type Token, type TokenSet } from '../../core/token.js';
import type { SharedLink, SharingPeer } from '../sharing.js';
import { KnownEpoch, nextEpoch } from './epoch.js';
import { FirstSeen } from './first-seen.js';
import { fetchUnderLease, type Lease } from './holder.js';
import type { DenoKv, KvEntryMaybe, KvKey } from './kv.js';
import { boundedKvCall } from './kv-call.js';
import {
  failureError,
  type Keys,
  keysFor,
  randomId,
  type Read,
  readEpoch,
  readFailure,
  readGrant,
  readLease,
  readToken,
  type TokenRecord,
} from './records.js';

export interface Settings {
  readonly kv: DenoKv;
  readonly prefix: KvKey;
  readonly leaseTime: number;
  readonly timeout: number;
  readonly pollInterval: number;
}

/** One strongly consistent read of every record of the credential, in the current epoch. */
export interface Snapshot {
  readonly epoch: number;
  readonly epochVersion: string | null;
  readonly token: Read<TokenRecord>;
  readonly lease: ReturnType<typeof readLease>;
  readonly failure: ReturnType<typeof readFailure>;
  readonly grant: ReturnType<typeof readGrant>;
}

/** Sign-outs retried this often when another write to the epoch won the race. */
const CLEAR_ATTEMPTS = 10;

// A class, not a literal with closures: a server may hold many links.
export class DenoKvLink implements SharedLink {
  /**
   * Every isolate refreshes ahead of expiry: their timers fire at about the same time, the lease lets one of them
   * fetch, and the others take its token from KV. So no caller waits for a token request.
   */
  readonly leading = true;
  readonly peer: SharingPeer;
  readonly settings: Settings;
  readonly keys: Keys;
  /** The sign-out epoch as last read (see `KnownEpoch`: what counts as a sign-out). */
  readonly #epoch = new KnownEpoch();
  /** Bumped by every sign-out: a coordination that started before one stops. */
  #generation = 0;
  #closed = false;
  /** Sign-outs of this link in flight: a higher epoch read meanwhile is ours. */
  #clearing = 0;
  /** The lease this link saw last, since when (its own clock): liveness without skew. */
  readonly #leaseSeen = new FirstSeen();
  /** The failure record this link saw last, since when: its wait never grows with a writer's clock ahead of ours. */
  readonly #failureSeen = new FirstSeen();
  /** The token record this link saw last, since when: its lifetime never counts from a writer's clock ahead of ours. */
  readonly #tokenSeen = new FirstSeen();
  readonly #wakers = new Set<() => void>();
  readonly #reported = new Set<string>();
  #poll: ReturnType<typeof setInterval> | undefined;
  #watch: ReadableStreamDefaultReader<KvEntryMaybe[]> | undefined;
  #syncing = false;

  constructor(peer: SharingPeer, settings: Settings) {
    this.peer = peer;
    this.settings = settings;
    this.keys = keysFor(settings.prefix, peer.key);
    this.#poll = setInterval(() => this.#sync(), settings.pollInterval);
    unrefTimer(this.#poll);
    this.#startWatching();
  }

  // Reading KV is a round trip: `obtain` makes it, and returns the stored token when it is usable.
  load(): Promise<TokenSet | undefined> {
    return Promise.resolve(undefined);
  }

  async obtain(rejected?: string): Promise<TokenSet> {
    this.#assertOpen();
    return { token: await this.#coordinate(rejected) };
  }

  async clear(): Promise<void> {
    this.#forget();
    const { kv } = this.settings;
    this.#clearing++;
    try {
      for (let attempt = 0; attempt < CLEAR_ATTEMPTS; attempt++) {
        const [entry] = await this.call(() => kv.getMany([this.keys.epoch], { consistency: 'strong' }));
        const stored = readEpoch(entry).value?.epoch ?? 0;
        const next = nextEpoch(Math.max(stored, this.#epoch.value ?? 0), this.peer.clock.now());
        const op = kv
          .atomic()
          .check({ key: this.keys.epoch, versionstamp: entry?.versionstamp ?? null })
          .set(this.keys.epoch, { epoch: next })
          .delete(this.keys.token)
          .delete(this.keys.lease);
        // A refresh-token chain that began before the sign-out ends with it, in every isolate, for good.
        if (this.peer.usesRefreshToken) op.set(this.keys.grant, { state: 'ended', epoch: next });
        if ((await this.call(() => op.commit())).ok) {
          const known = this.#epoch.value;
          if (known === undefined || next > known) this.#epoch.set(next);
          return;
        }
      }
      throw new SessionError('sharing_unavailable', 'The sign-out could not be written to Deno KV (too many concurrent writes)');
    } finally {
      this.#clearing--;
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#poll);
    this.#watch?.cancel().catch(() => undefined);
    this.#forget();
    return Promise.resolve();
  }

  /** A usable token: the stored one, or one this isolate fetches under the lease, or the lease holder's. */
  async #coordinate(rejected: string | undefined): Promise<Token> {
    const { timeout, pollInterval } = this.settings;
    const generation = this.#generation;
    const deadline = this.peer.clock.now() + timeout;
    for (;;) {
      const snapshot = await this.read();
      this.assertCurrent(generation);
      const token = this.#current(snapshot);
      if (token !== undefined && this.peer.isUsable(token, rejected)) return token;
      const failure = snapshot.failure.value;
      if (failure !== undefined) {
        const now = this.peer.clock.now();
        // `until` is the writer's clock: counted from when this link first saw the record too, a reader whose clock is
        // behind never waits longer than `retryAfter`.
        const left = Math.min(failure.retryAfter - this.#failureSeen.age(snapshot.failure.versionstamp!, now), failure.until - now);
        if (left > 0) throw failureError(failure.code, left);
      }
      const grant = snapshot.grant.value;
      let refreshToken: string | undefined;
      if (this.peer.usesRefreshToken) {
        if (snapshot.grant.corrupt || grant?.state === 'ended' || (grant !== undefined && grant.epoch !== snapshot.epoch)) {
          return this.signedOut();
        }
        if (grant?.state === 'ready') refreshToken = grant.refreshToken;
      }
      if (snapshot.lease.versionstamp !== null && this.#leaseAlive(snapshot.lease.versionstamp)) {
        const left = deadline - this.peer.clock.now();
        if (left <= 0) throw new SessionError('timeout', 'Timed out waiting for another isolate to fetch the token');
        await this.#wait(Math.min(pollInterval, left));
        this.assertCurrent(generation);
        continue;
      }
      // A rotation recorded as in flight whose holder is gone: its refresh token may be spent. Never send it.
      if (this.peer.usesRefreshToken && grant?.state === 'rotating') {
        await this.#endGrant(snapshot);
        return this.signedOut();
      }
      const lease = await this.#acquire(snapshot, refreshToken);
      if (lease === undefined) continue; // another isolate wrote meanwhile: read again
      this.assertCurrent(generation);
      return fetchUnderLease(this, lease);
    }
  }

  /** Takes the lease if nothing changed since `snapshot`; for a rotating grant, records the rotation as in flight. */
  async #acquire(snapshot: Snapshot, refreshToken: string | undefined): Promise<Lease | undefined> {
    const { kv, leaseTime } = this.settings;
    const { keys } = this;
    const id = randomId();
    const op = kv
      .atomic()
      .check({ key: keys.epoch, versionstamp: snapshot.epochVersion })
      .check({ key: keys.token, versionstamp: snapshot.token.versionstamp })
      .check({ key: keys.lease, versionstamp: snapshot.lease.versionstamp })
      .check({ key: keys.failure, versionstamp: snapshot.failure.versionstamp })
      .set(keys.lease, { id, epoch: snapshot.epoch }, { expireIn: leaseTime });
    if (snapshot.failure.versionstamp !== null) op.delete(keys.failure); // passed, or unreadable
    if (this.peer.usesRefreshToken) {
      op.check({ key: keys.grant, versionstamp: snapshot.grant.versionstamp });
      op.set(keys.grant, { state: 'rotating', epoch: snapshot.epoch, lease: id });
    }
    const result = await this.call(() => op.commit());
    if (!result.ok) return undefined;
    this.#leaseSeen.forget();
    return { id, versionstamp: result.versionstamp, snapshot, refreshToken };
  }

  /** Ends a grant whose rotation was lost: a sign-out for every isolate, in one write. */
  async #endGrant(snapshot: Snapshot): Promise<void> {
    const next = nextEpoch(snapshot.epoch, this.peer.clock.now());
    const { keys } = this;
    const op = this.settings.kv
        .atomic()
        .check({ key: keys.epoch, versionstamp: snapshot.epochVersion }, { key: keys.grant, versionstamp: snapshot.grant.versionstamp })
        .set(keys.epoch, { epoch: next })
        .set(keys.grant, { state: 'ended', epoch: next })
        .delete(keys.token)
        .delete(keys.lease);
    const result = await this.call(() => op.commit());
    this.peer.report(new SessionError('login_required', 'A refresh-token rotation was interrupted in another isolate: the grant ended'));
    if (result.ok) this.#observeEpoch(next);
  }

  /**
   * Told by KV: the grant is over (a sign-out, or a lost rotation). The session refuses every token request itself
   * from now on (`login_required`); asking it is how that refusal reaches the caller. Nothing is sent.
   */
  async signedOut(): Promise<never> {
    this.peer.receiveClear();
    await this.peer.fetchToken();
    throw new SessionError('login_required', 'Signed out in another isolate: this refresh token must not be used again');
  }

  /** The stored token when it belongs to the current epoch and has not expired, in this clock. */
  #current(snapshot: Snapshot): Token | undefined {
    const record = snapshot.token.value;
    if (record === undefined || record.epoch !== snapshot.epoch) return undefined;
    const now = this.peer.clock.now();
    const token = this.#inThisClock(record.token, snapshot.token.versionstamp!, now);
    return token === undefined || isExpired(token, now) ? undefined : token;
  }

  /**
   * A stored token's times in this clock. They are the writer's: an `issuedAt` in our future is bounded by our clock
   * as it read when this link first saw the record (`boundedByClock` at that moment, not at each read). Bounded at
   * each read, its expiry would move forward with our clock for as long as the writer's clock is ahead: a token
   * handed out here long after it expired. So a running isolate never hands out a token older than its lifetime
   * counted from when it first saw it, and never moves an expiry forward. A record older than the one seen last (a
   * read that was on its way meanwhile) is not seen anew: undefined, as its first sight is forgotten.
   */
  #inThisClock(stored: Token, versionstamp: string, now: number): Token | undefined {
    if (this.#tokenSeen.isOlder(versionstamp)) return undefined;
    return boundedByClock(stored, this.#tokenSeen.since(versionstamp, now));
  }

  /** Alive while its versionstamp changes at least every `leaseTime`, as this link sees it: no clock is compared. */
  #leaseAlive(versionstamp: string): boolean {
    return this.#leaseSeen.age(versionstamp, this.peer.clock.now()) < this.settings.leaseTime;
  }

  /** One strongly consistent read of every record; an unreadable epoch counts as a sign-out and is repaired. */
  async read(): Promise<Snapshot> {
    const { keys } = this;
    for (;;) {
      const sent = this.#epoch.readSent();
      const [epoch, token, lease, failure, grant] = await this.call(() =>
        this.settings.kv.getMany([keys.epoch, keys.token, keys.lease, keys.failure, keys.grant], { consistency: 'strong' }),
      );
      const storedEpoch = readEpoch(epoch);
      if (storedEpoch.corrupt) {
        await this.#repairEpoch(storedEpoch.versionstamp);
        continue;
      }
      const snapshot: Snapshot = {
        epoch: storedEpoch.value?.epoch ?? 0,
        epochVersion: storedEpoch.versionstamp,
        token: readToken(token),
        lease: readLease(lease),
        failure: readFailure(failure),
        grant: readGrant(grant),
      };
      for (const [name, record] of [['token', snapshot.token], ['failure', snapshot.failure], ['grant', snapshot.grant]] as const) {
        if (record.corrupt) this.#reportCorrupt(name, record.versionstamp);
      }
      this.#observeEpoch(snapshot.epoch, sent);
      return snapshot;
    }
  }

  /** A forged or foreign epoch: whether a sign-out was recorded cannot be known, so it becomes one. */
  async #repairEpoch(versionstamp: string | null): Promise<void> {
    this.#reportCorrupt('epoch', versionstamp);
    const next = nextEpoch(this.#epoch.value ?? 0, this.peer.clock.now());
    const { keys } = this;
    const op = this.settings.kv
      .atomic()
      .check({ key: keys.epoch, versionstamp })
      .set(keys.epoch, { epoch: next })
      .delete(keys.token)
      .delete(keys.lease);
    if (this.peer.usesRefreshToken) op.set(keys.grant, { state: 'ended', epoch: next });
    await this.call(() => op.commit());
  }

  #reportCorrupt(name: string, versionstamp: string | null): void {
    const seen = `${name}:${versionstamp}`;
    if (this.#reported.has(seen)) return;
    this.#reported.add(seen);
    this.peer.report(new SessionError('corrupt_storage', `Ignored an unreadable ${name} record in Deno KV`));
  }

  /** A sign-out elsewhere (or this link's own, while it writes it), as `KnownEpoch` tells. `read`: see `learn`. */
  #observeEpoch(epoch: number, read?: number): void {
    if (!this.#epoch.learn(epoch, read, this.#clearing > 0)) return;
    this.#forget();
    if (this.#clearing === 0 && !this.#closed) this.peer.receiveClear();
  }

  /** Reads the epoch and the token after a watch event or a poll tick; one read at a time. */
  #sync(entries?: readonly KvEntryMaybe[]): void {
    if (entries !== undefined) {
      this.#apply(entries);
      return;
    }
    if (this.#syncing || this.#closed) return;
    this.#syncing = true;
    const generation = this.#generation;
    const sent = this.#epoch.readSent();
    this.call(() => this.settings.kv.getMany([this.keys.epoch, this.keys.token], { consistency: 'strong' }))
      // A read sent before a sign-out may bring the token it ended: only its epoch is news then.
      .then((read) => this.#apply(generation === this.#generation ? read : [read[0]], sent))
      .catch(() => undefined) // KV unavailable: the next tick reads again; getToken reports it
      .finally(() => (this.#syncing = false));
  }

  #apply([epochEntry, tokenEntry]: readonly (KvEntryMaybe | undefined)[], read?: number): void {
    if (this.#closed) return;
    const epoch = readEpoch(epochEntry);
    if (epoch.corrupt) return; // repaired by the next `obtain`
    const current = epoch.value?.epoch ?? 0;
    this.#observeEpoch(current, read);
    const record = readToken(tokenEntry).value;
    // While this link writes a sign-out, what it reads may still be the token the sign-out ends.
    if (record !== undefined && record.epoch === current && current === this.#epoch.value && this.#clearing === 0) {
      const now = this.peer.clock.now();
      const token = this.#inThisClock(record.token, tokenEntry!.versionstamp!, now);
      if (token !== undefined && !isExpired(token, now)) this.peer.receiveToken(token);
    }
    for (const wake of this.#wakers) wake();
  }

  /** Other isolates' writes, as soon as KV delivers them (Deno Deploy does; the CLI only within one process). */
  #startWatching(): void {
    const { kv } = this.settings;
    if (typeof kv.watch !== 'function') return;
    try {
      const reader = kv.watch([this.keys.epoch, this.keys.token, this.keys.lease, this.keys.failure]).getReader();
      this.#watch = reader;
      const next = (): void => {
        reader.read().then(({ done, value }) => {
          if (done || this.#closed) return;
          this.#sync(value);
          next();
        }, () => undefined); // the stream failed: polling goes on
      };
      next();
    } catch {
      // No watch here: polling goes on.
    }
  }

  /** Resolves after `ms`, or earlier when KV says something changed. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  /** Sign-out, here or elsewhere, or close: coordinations that started before it stop. */
  #forget(): void {
    this.#generation++;
    for (const wake of this.#wakers) wake();
  }

  assertCurrent(generation: number): void {
    this.#assertOpen();
    if (generation !== this.#generation) throw new SessionError('aborted', 'The session was cleared');
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionError('closed', 'The session was closed');
  }

  /** A KV call, tried again while it fails, bounded in time (see `boundedKvCall`). */
  call<T>(attempt: () => Promise<T>): Promise<T> {
    return boundedKvCall(attempt, () => this.#closed);
  }
}

/** Never keeps a Deno (or Node) process alive on its own. */
function unrefTimer(timer: ReturnType<typeof setInterval>): void {
  (timer as { unref?: () => void }).unref?.();
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === 'number') deno?.unrefTimer?.(timer);
}
