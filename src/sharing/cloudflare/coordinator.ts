import { isNewer } from '../../core/token.js';
import {
  answerSchema,
  type CoordinatorAnswer,
  type CoordinatorRequest,
  type Failure,
  PROTOCOL_VERSION,
  RECORD_KEY,
  recordSchema,
  requestSchema,
  type StoredRecord,
} from './protocol.js';
import type { CoordinatorState, CoordinatorStorage } from './types.js';

interface Lease {
  readonly id: string;
  readonly expiresAt: number;
}

type Acquire = Extract<CoordinatorRequest, { type: 'acquire' }>;
type Fulfil = Extract<CoordinatorRequest, { type: 'fulfil' }>;
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
 * Export it from your Worker's main module and bind it (see `examples/cloudflare/wrangler.toml`):
 * @example
 * export { TokenCoordinator } from 'shared-session/cloudflare';
 */
export class TokenCoordinator {
  readonly #storage: CoordinatorStorage;
  /** Lease ids are `<instance>.<n>`: a lease granted before a restart is recognisable as such. */
  readonly #instance = crypto.randomUUID();
  #granted = 0;
  #record: Promise<StoredRecord | undefined> | undefined;
  #lease: Lease | undefined;
  /** The last lease that was abandoned with a failure, so that the callers that waited for it get that failure. */
  #failure: { readonly lease: string; readonly failure: Failure } | undefined;
  #notice: 'corrupt_storage' | undefined;
  #changed = signal();

  constructor(state: CoordinatorState, _env?: unknown) {
    this.#storage = state.storage;
  }

  /** Handles one protocol message (see `protocol.ts`). Anything else gets a 400 and changes nothing. */
  async fetch(request: Request): Promise<Response> {
    if (request.method !== 'POST') return reply(405);
    const parsed = requestSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success) return reply(400);
    const message = parsed.data;
    switch (message.type) {
      case 'acquire':
        return reply(200, await this.#acquire(message));
      case 'fulfil':
        return reply(200, { v: PROTOCOL_VERSION, type: 'done', stored: await this.#fulfil(message) });
      case 'abandon':
        this.#abandon(message);
        return reply(200, { v: PROTOCOL_VERSION, type: 'done' });
      case 'clear':
        await this.#clear();
        return reply(200, { v: PROTOCOL_VERSION, type: 'done' });
    }
  }

  async #acquire({ rejected, wait, lease: leaseTime }: Acquire): Promise<CoordinatorAnswer> {
    const deadline = Date.now() + wait;
    let waitedFor: string | undefined;
    for (;;) {
      const record = await this.#read();
      const now = Date.now();
      if (record !== undefined && record.token.accessToken !== rejected && record.token.expiresAt > now) {
        return this.#withNotice({ v: PROTOCOL_VERSION, type: 'token', token: record.token });
      }
      if (waitedFor !== undefined && this.#failure?.lease === waitedFor) {
        return { v: PROTOCOL_VERSION, type: 'failed', failure: this.#failure.failure };
      }
      const current = this.#lease;
      if (current === undefined || current.expiresAt <= now) {
        // Single-threaded: nothing else runs between this check and the grant, so exactly one caller gets it.
        const lease: Lease = { id: `${this.#instance}.${++this.#granted}`, expiresAt: now + leaseTime };
        this.#lease = lease;
        const answer: CoordinatorAnswer = { v: PROTOCOL_VERSION, type: 'lease', lease: lease.id, ttl: leaseTime };
        if (record?.refreshToken !== undefined) answer.refreshToken = record.refreshToken;
        return this.#withNotice(answer);
      }
      if (now >= deadline) return { v: PROTOCOL_VERSION, type: 'busy' };
      waitedFor = current.id;
      await this.#changed.wait(Math.min(current.expiresAt, deadline) - now);
    }
  }

  /**
   * Fencing: the token is stored when it comes with the current lease, or with a lease granted before a restart
   * while nobody holds one now, and only if it is newer than the stored one. A holder whose lease was taken over
   * (or cleared by a sign-out) keeps its token to itself.
   */
  async #fulfil({ lease, token, refreshToken }: Fulfil): Promise<boolean> {
    const stored = await this.#read();
    // From here to the write nothing awaits, so no waiter can see the lease gone before it sees the token.
    const now = Date.now();
    const current = this.#lease;
    const ours = current?.id === lease;
    const fromBeforeRestart = !lease.startsWith(`${this.#instance}.`) && (current === undefined || current.expiresAt <= now);
    const accepted = (ours || fromBeforeRestart) && token.expiresAt > now && isNewer(token, stored?.token);
    const record: StoredRecord = { v: PROTOCOL_VERSION, token };
    if (refreshToken !== undefined) record.refreshToken = refreshToken;
    if (accepted) this.#record = Promise.resolve(record);
    if (ours) this.#lease = undefined;
    this.#changed.fire();
    // The runtime holds every answer sent from now on until this write is durable (output gate), so waiters that
    // get the token now cannot observe it before it is stored.
    if (accepted) await this.#storage.put(RECORD_KEY, record);
    return accepted;
  }

  #abandon({ lease, failure }: Abandon): void {
    if (this.#lease?.id !== lease) return;
    this.#lease = undefined;
    if (failure !== undefined) this.#failure = { lease, failure };
    this.#changed.fire();
  }

  /** Sign-out: forget the token and the lease, so that a token requested before the sign-out is never stored. */
  async #clear(): Promise<void> {
    this.#record = Promise.resolve(undefined);
    this.#lease = undefined;
    this.#failure = undefined;
    await this.#storage.delete(RECORD_KEY);
    this.#changed.fire();
  }

  #read(): Promise<StoredRecord | undefined> {
    return (this.#record ??= this.#storage.get(RECORD_KEY).then(
      async (value) => {
        if (value === undefined) return undefined;
        const parsed = recordSchema.safeParse(value);
        if (parsed.success) return parsed.data;
        // Written by another version, or damaged: never hand it out; start afresh and tell the next caller.
        this.#notice = 'corrupt_storage';
        await this.#storage.delete(RECORD_KEY);
        return undefined;
      },
      (error: unknown) => {
        this.#record = undefined; // read again next time rather than failing forever
        throw error;
      },
    ));
  }

  #withNotice(answer: CoordinatorAnswer): CoordinatorAnswer {
    if (this.#notice === undefined || (answer.type !== 'token' && answer.type !== 'lease')) return answer;
    this.#notice = undefined;
    return { ...answer, notice: 'corrupt_storage' };
  }
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
