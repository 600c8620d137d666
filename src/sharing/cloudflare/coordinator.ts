import { SessionError } from '../../core/errors.js';
import { boundedByClock, isNewer } from '../../core/token.js';
import {
  answerSchema,
  type CoordinatorAnswer,
  type CoordinatorRequest,
  type Failure,
  inClockOf,
  LEGACY_RECORD_KEY,
  legacyRecordSchema,
  MAX_DURATION,
  MAX_ENDED_CHAINS,
  MAX_RETRY_AFTER,
  PROTOCOL_VERSION,
  requestSchema,
  STATE_KEY,
  stateSchema,
  type StoredState,
} from './protocol.js';
import type { CoordinatorState, CoordinatorStorage } from './types.js';
import { afterLapse } from '../rules/refresh-chain.js';

type Acquire = Extract<CoordinatorRequest, { type: 'acquire' }>;
type Fulfil = Extract<CoordinatorRequest, { type: 'fulfil' }>;
type Renew = Extract<CoordinatorRequest, { type: 'renew' }>;
type Abandon = Extract<CoordinatorRequest, { type: 'abandon' }>;

/**
 * A Durable Object that owns the token of one credential (one object per credential key, `idFromName(key)`) for
 * every Worker isolate that asks. It never sees a client secret: the isolate that gets the *lease* calls the token
 * endpoint itself (the secret lives in that Worker's env) and posts the token back; the others wait for it.
 *
 * Freshness is the isolate's call, so this object holds no policy: it hands out the stored token unless it has
 * expired or it is the one the caller `rejected`. An isolate that finds the token too close to expiry for its refresh
 * margin asks again, rejecting it, and then gets the lease or waits for whoever holds it.
 *
 * Everything it promises survives a restart (deploy, eviction): the token, the lease, the sign-out epoch and a
 * remembered `retryAfter` live in Durable Object storage, and every answer waits until they are written.
 *
 * Export it from your Worker's main module and bind it (see `examples/cloudflare/wrangler.toml`):
 * @example
 * export { TokenCoordinator } from 'shared-session/cloudflare';
 */
export class TokenCoordinator {
  readonly #storage: CoordinatorStorage;
  /** The stored state as last written; read once from storage, then kept in step with every write. */
  #state: StoredState | undefined;
  #loading: Promise<void> | undefined;
  /** The last lease that was abandoned with a failure, so that the callers that waited for it get that failure. */
  #failure: { readonly lease: string; readonly failure: Failure } | undefined;
  #notice: 'corrupt_storage' | undefined;
  #changed = signal();

  constructor(state: CoordinatorState, _env?: unknown) {
    this.#storage = state.storage;
  }

  /** Handles one protocol message (see `protocol.ts`). Anything else gets a 400 and changes nothing. */
  async fetch(request: Request): Promise<Response> {
    // Read before anything awaits: the `token` answer's `now` (see `#acquire`).
    const arrived = Date.now();
    if (request.method !== 'POST') return reply(405);
    const parsed = requestSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success) return reply(400);
    const message = parsed.data;
    switch (message.type) {
      case 'acquire':
        return reply(200, await this.#acquire(message, arrived));
      case 'fulfil':
        return reply(200, await this.#fulfil(message));
      case 'renew':
        return reply(200, { v: PROTOCOL_VERSION, type: 'done', stored: await this.#renew(message) });
      case 'abandon':
        await this.#abandon(message);
        return reply(200, { v: PROTOCOL_VERSION, type: 'done' });
      case 'clear':
        await this.#clear();
        return reply(200, { v: PROTOCOL_VERSION, type: 'done' });
    }
  }

  /**
   * `arrived`: this object's clock when the request came in, sent as the `token` answer's `now`. The caller pairs it
   * with the time it sent the request, so only the way here counts against the token's life as the caller reads it,
   * not the time it waited for another isolate's token request (which made a token fetched for it look that much older:
   * past the caller's refresh margin after a long wait, so that it rejected the fresh token and fetched another).
   */
  async #acquire({ rejected, wait, lease: ttl, epoch, start }: Acquire, arrived: number): Promise<CoordinatorAnswer> {
    const deadline = Date.now() + wait;
    let waitedFor: string | undefined;
    for (;;) {
      await this.#ready();
      const state = this.#now();
      const now = Date.now();
      if (epoch !== undefined && epoch !== state.epoch) {
        return { v: PROTOCOL_VERSION, type: 'signed_out', epoch: state.epoch };
      }
      const stored = state.token;
      if (stored !== undefined && stored.token.accessToken !== rejected && stored.token.expiresAt > now) {
        return this.#withNotice({ v: PROTOCOL_VERSION, type: 'token', token: stored.token, epoch: state.epoch, now: arrived });
      }
      if (waitedFor !== undefined && this.#failure?.lease === waitedFor) {
        return { v: PROTOCOL_VERSION, type: 'failed', failure: this.#failure.failure };
      }
      const backoff = state.backoff;
      if (backoff !== undefined && backoff.until > now) {
        return { v: PROTOCOL_VERSION, type: 'failed', failure: { ...backoff.failure, retryAfter: backoff.until - now } };
      }
      const current = state.lease;
      if (current === undefined || current.expiresAt <= now) {
        // Nothing awaits between the check and this write, so exactly one caller gets the lease.
        let kept = stored;
        let { ended } = state;
        let lapsed: true | undefined;
        if (current?.rotating === true && current.epoch === state.epoch && stored?.refreshToken !== undefined) {
          // The holder of the refresh token vanished: perhaps after the provider rotated it (rules/refresh-chain.ts).
          if (afterLapse(stored.lapsed === true) === 'end-chain') return this.#endChain(state);
          kept = { ...stored, lapsed: true };
        } else if (current?.start !== undefined && current.epoch === state.epoch && stored?.refreshToken === undefined) {
          // The holder that started a chain from its initial refresh token vanished: perhaps after the provider
          // rotated it. The same rule: that start once more, never a third time (another start: it counts as spent).
          if (afterLapse(current.lapsed === true) === 'end-chain') return this.#endChain(state);
          if (current.start === start) lapsed = true;
          else ended = remember(ended, current.start);
        }
        const rotating = kept?.refreshToken !== undefined || undefined;
        // A chain from this caller's initial refresh token ran here and ended: that token is spent (rotated away at
        // the chain's first refresh, or refused), and a brand-new isolate (a deploy, an eviction) must not send it.
        // (Nothing to write: the lapsed lease read above is still stored, and says the same to the next caller.)
        if (!rotating && start !== undefined && ended?.includes(start)) return { v: PROTOCOL_VERSION, type: 'signed_out', epoch: state.epoch };
        const lease = { id: crypto.randomUUID(), expiresAt: now + ttl, ttl, epoch: state.epoch, rotating, start: rotating ? undefined : start, lapsed };
        const written = this.#write({ ...state, token: kept, lease, ended });
        const answer: CoordinatorAnswer = { v: PROTOCOL_VERSION, type: 'lease', lease: lease.id, ttl, epoch: state.epoch };
        if (kept?.refreshToken !== undefined) answer.refreshToken = kept.refreshToken;
        // The lease is answered once it is durable: a restart must not grant it a second time.
        await written;
        return this.#withNotice(answer);
      }
      if (now >= deadline) return { v: PROTOCOL_VERSION, type: 'busy' };
      waitedFor = current.id;
      await this.#changed.wait(Math.min(current.expiresAt, deadline) - now);
    }
  }

  /**
   * Fencing: the token is stored only when it comes with the current lease (granted by this object, stored, not
   * taken over, not revoked by a sign-out) and is newer than the stored one. A holder whose lease was taken over or
   * revoked keeps its token to itself; the answer's `epoch` tells it whether a sign-out happened meanwhile.
   */
  async #fulfil({ lease, token, refreshToken, now: sentAt }: Fulfil): Promise<CoordinatorAnswer> {
    await this.#ready();
    const state = this.#now();
    const now = Date.now();
    if (state.lease?.id !== lease) return { v: PROTOCOL_VERSION, type: 'done', stored: false, epoch: state.epoch };
    // Read in this object's clock (the isolate's may differ), and never in this object's future.
    const bounded = boundedByClock(inClockOf(token, sentAt, now), now);
    const alive = bounded.expiresAt > now;
    // Expired on arrival (answers that came after their tokens' lifetime, see SessionCore.fetchToken): stored for its
    // refresh token, the chain's newest, and handed out to nobody (an expired token never is); the callers that waited
    // for this lease get `token_expired` rather than a lease of their own each.
    const accepted = state.lease.epoch === state.epoch && (alive || refreshToken !== undefined) && isNewer(bounded, state.token?.token);
    if (accepted && !alive) this.#failure = { lease, failure: { code: 'token_expired', message: 'The token endpoint answered after the token had expired' } };
    const next: StoredState = { ...state, lease: undefined };
    // The chain this lease continues: a new one from its initial refresh token, or the stored one's.
    const start = state.lease.start ?? state.token?.start;
    if (accepted) {
      next.token = { token: bounded, epoch: state.epoch, refreshToken, start: refreshToken === undefined ? undefined : start };
      next.backoff = undefined;
    } else if (state.lease.start !== undefined && refreshToken !== undefined) {
      // The initial refresh token was exchanged, and what it brought is not kept: that chain is over.
      next.ended = remember(state.ended, state.lease.start);
    }
    const written = this.#write(next);
    this.#changed.fire();
    // The runtime holds every answer sent from now on until this write is durable (output gate), so waiters that
    // get the token now cannot observe it before it is stored.
    await written;
    return { v: PROTOCOL_VERSION, type: 'done', stored: accepted, epoch: state.epoch };
  }

  /** The holder is still at work (a retry chain can outlast `ttl`): its lease lasts `ttl` from now. */
  async #renew({ lease }: Renew): Promise<boolean> {
    await this.#ready();
    const state = this.#now();
    const current = state.lease;
    if (current?.id !== lease || current.epoch !== state.epoch) return false;
    await this.#write({ ...state, lease: { ...current, expiresAt: Date.now() + current.ttl } });
    return true;
  }

  async #abandon({ lease, failure, spent }: Abandon): Promise<void> {
    await this.#ready();
    const state = this.#now();
    if (spent === true) {
      // The chain's refresh token was refused: every holder of it is signed out, whoever holds the lease now.
      const written = this.#signOut(state);
      // Callers that waited for this lease without knowing the chain's epoch get the refusal itself: set before they
      // wake (they run after this synchronous part), not after the write, when they would have been granted a lease.
      if (failure !== undefined) this.#failure = { lease, failure };
      await written;
      return;
    }
    if (state.lease?.id !== lease) return;
    const next: StoredState = { ...state, lease: undefined };
    if (failure !== undefined) {
      this.#failure = { lease, failure };
      // How long to wait is the endpoint's word (Retry-After, or the chain's next back-off) for every caller:
      // remembered, across restarts, until it passes.
      if (failure.retryAfter !== undefined && failure.retryAfter > 0) {
        next.backoff = { failure, until: Date.now() + failure.retryAfter };
      }
    }
    const written = this.#write(next);
    this.#changed.fire();
    await written;
  }

  /**
   * Sign-out: a new epoch, and the token, its refresh token and the lease dropped in the same write, so that a token
   * requested before the sign-out is never stored or served, and a refresh-token chain that began before it ends.
   * A remembered `retryAfter` stays: it is the endpoint's, not the session's.
   */
  async #clear(): Promise<void> {
    await this.#ready();
    await this.#signOut(this.#now());
  }

  /** Signs every isolate out (the chain's refresh token is spent): as `clear`, answered `signed_out`. */
  async #endChain(state: StoredState): Promise<CoordinatorAnswer> {
    await this.#signOut(state);
    return { v: PROTOCOL_VERSION, type: 'signed_out', epoch: state.epoch + 1 };
  }

  /**
   * The write of a sign-out, from `state` as read after the last await. The chain that ends (the stored one, or one a
   * lease holder is starting from its initial refresh token) is remembered by its start, so that no isolate starts
   * it again from that token.
   */
  #signOut(state: StoredState): Promise<void> {
    const next: StoredState = { v: PROTOCOL_VERSION, epoch: state.epoch + 1 };
    if (state.backoff !== undefined) next.backoff = state.backoff;
    for (const start of [state.token?.start, state.lease?.start]) if (start !== undefined) next.ended = remember(next.ended ?? state.ended, start);
    next.ended ??= state.ended;
    this.#failure = undefined;
    const written = this.#write(next);
    this.#changed.fire();
    return written;
  }

  /** Loads the state from storage on first use. */
  async #ready(): Promise<void> {
    if (this.#state === undefined) await this.#load();
  }

  /**
   * The state as it is now. Read it after the last await, never across one (another message may change it
   * meanwhile), and write before the next await.
   */
  #now(): StoredState {
    if (this.#state === undefined) throw new SessionError('sharing_unavailable', 'The coordinator read its state before loading it');
    return this.#state;
  }

  #load(): Promise<void> {
    return (this.#loading ??= this.#read().then(
      (state) => {
        this.#state ??= state;
      },
      (error: unknown) => {
        this.#loading = undefined; // read again next time rather than failing forever
        throw error;
      },
    ));
  }

  #write(state: StoredState): Promise<void> {
    this.#state = state;
    return this.#storage.put(STATE_KEY, state);
  }

  async #read(): Promise<StoredState> {
    const now = Date.now();
    const value = await this.#storage.get(STATE_KEY);
    if (value !== undefined) {
      const parsed = stateSchema.safeParse(value);
      if (parsed.success) return bounded(parsed.data, now);
      // Written by another version, or damaged: never hand any of it out, and treat it as a sign-out (whether one
      // was recorded there cannot be known): a new epoch that no lease or chain of before can have.
      this.#notice = 'corrupt_storage';
      const fresh: StoredState = { v: PROTOCOL_VERSION, epoch: now };
      await this.#storage.put(STATE_KEY, fresh);
      return fresh;
    }
    return this.#migrate(await this.#storage.get(LEGACY_RECORD_KEY), now);
  }

  /** A version 1 record (no leases or sign-outs were stored then) becomes the token of epoch 0, or is dropped. */
  async #migrate(value: unknown, now: number): Promise<StoredState> {
    const state: StoredState = { v: PROTOCOL_VERSION, epoch: 0 };
    if (value === undefined) return state;
    const parsed = legacyRecordSchema.safeParse(value);
    if (parsed.success) {
      state.token = { token: boundedByClock(parsed.data.token, now), epoch: 0 };
      if (parsed.data.refreshToken !== undefined) state.token.refreshToken = parsed.data.refreshToken;
    } else {
      this.#notice = 'corrupt_storage';
    }
    await this.#storage.put(STATE_KEY, state);
    await this.#storage.delete(LEGACY_RECORD_KEY);
    return state;
  }

  #withNotice(answer: CoordinatorAnswer): CoordinatorAnswer {
    if (this.#notice === undefined || (answer.type !== 'token' && answer.type !== 'lease')) return answer;
    this.#notice = undefined;
    return { ...answer, notice: 'corrupt_storage' };
  }
}

/**
 * A stored state as this object's clock may trust it: no timestamp further ahead than the longest it could have
 * been set for (a record written under a clock that ran ahead, or forged), and nothing of another epoch.
 */
function bounded(state: StoredState, now: number): StoredState {
  const next: StoredState = { v: PROTOCOL_VERSION, epoch: state.epoch };
  if (state.token !== undefined && state.token.epoch === state.epoch) {
    next.token = { ...state.token, token: boundedByClock(state.token.token, now) };
  }
  if (state.lease !== undefined && state.lease.epoch === state.epoch) {
    next.lease = { ...state.lease, expiresAt: Math.min(state.lease.expiresAt, now + Math.min(state.lease.ttl, MAX_DURATION)) };
  }
  if (state.backoff !== undefined) {
    next.backoff = { ...state.backoff, until: Math.min(state.backoff.until, now + MAX_RETRY_AFTER) };
  }
  if (state.ended !== undefined) next.ended = state.ended;
  return next;
}

/** `ended` with `start` as its newest entry, the oldest dropped past {@link MAX_ENDED_CHAINS}. */
function remember(ended: readonly string[] | undefined, start: string): string[] {
  return [...(ended ?? []).filter((each) => each !== start), start].slice(-MAX_ENDED_CHAINS);
}

function reply(status: number, answer?: CoordinatorAnswer): Response {
  // Validated on the way out too, so that a bug here shows up as a 500 rather than as a malformed answer.
  if (answer !== undefined && !answerSchema.safeParse(answer).success) return new Response(null, { status: 500 });
  return answer === undefined
    ? new Response(null, { status })
    : new Response(JSON.stringify(answer), { status, headers: { 'content-type': 'application/json' } });
}

/** Wakes every waiter at once; each then looks at the state again. */
function signal(): { fire(): void; wait(ms: number): Promise<void> } {
  let wake: () => void = () => {};
  let changed = new Promise<void>((resolve) => (wake = resolve));
  return {
    fire() {
      wake();
      changed = new Promise<void>((resolve) => (wake = resolve));
    },
    wait(ms) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))));
      return Promise.race([changed, elapsed]).finally(() => clearTimeout(timer));
    },
  };
}
