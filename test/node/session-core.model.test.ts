import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { abortError, SessionError } from '../../src/core/errors.js';
import type { Token, TokenSet } from '../../src/core/token.js';
import type { FetchTokenContext, TokenProvider } from '../../src/providers/provider.js';
import type { SharedLink, Sharing, SharingPeer } from '../../src/sharing/sharing.js';

// A model-based test of the session core (src/core/session-core.ts, through createSession): random interleavings
// of getToken (minValidity, forceRefresh, rejected), clear, close, leadership changes, endpoint failures (with and
// without retryAfter), slow answers and clock jumps, in two contexts that share one credential through a scripted
// transport. Time is a fake clock the commands move; the endpoint answers after a few real milliseconds.
//
// Invariants, checked on every step and at the end of every run:
// - at most one token request in flight for the credential (across both contexts);
// - no token returned that the clock calls expired at the moment it is returned, or that the caller reported rejected;
// - no token fetched before a sign-out is returned to a call made after it;
// - no token request from a context while a failure it was told about says to wait (`retryAfter`);
// - every call settles (within a bound), and there is no unhandled rejection.

const START = 1_700_000_000_000;
const stats = { returned: 0, failed: 0, codes: {} as Record<string, number> };
const REFRESH_BEFORE_EXPIRY = 60_000;

interface Issued {
  readonly token: Token;
  /** Sign-outs that had happened when its request was sent. */
  readonly clears: number;
}

/** What one endpoint answer will be; queued by commands, taken by the next request. */
type Answer =
  | { readonly kind: 'token'; readonly lifetime: number; readonly delay: number; readonly jumpDuring: number }
  | { readonly kind: 'fail'; readonly code: 'endpoint_unavailable' | 'rate_limited'; readonly retryAfter?: number; readonly delay: number };

const DEFAULT_ANSWER: Answer = { kind: 'token', lifetime: 3_600_000, delay: 1, jumpDuring: 0 };

/** The system under test: a clock, an endpoint, a transport and two contexts' sessions. */
class World {
  now = START;
  clears = 0;
  inFlight = 0;
  maxInFlight = 0;
  requests = 0;
  readonly answers: Answer[] = [];
  readonly issued = new Map<string, Issued>();
  readonly violations: string[] = [];
  readonly pending = new Set<Promise<unknown>>();
  readonly clock = { now: (): number => this.now };
  /** Per context: the time (fake clock) before which it must not call the endpoint, from failures it was told of. */
  readonly waitUntil = [0, 0];
  readonly sessions: (Session | undefined)[] = [undefined, undefined];
  readonly bus = new Bus(this);

  constructor() {
    this.open(0);
    this.open(1);
  }

  provider(context: number): TokenProvider {
    return {
      key: 'model-credential',
      canRefresh: true,
      usesRefreshToken: false,
      fetchToken: (fetchContext) => this.#fetch(context, fetchContext),
    };
  }

  open(context: number): void {
    this.sessions[context] = createSession({
      provider: this.provider(context),
      sharing: this.bus.sharingFor(context),
      clock: this.clock,
      refreshBeforeExpiry: REFRESH_BEFORE_EXPIRY,
    });
  }

  async #fetch(context: number, { signal }: FetchTokenContext): Promise<TokenSet> {
    if (this.now < this.waitUntil[context]!) {
      this.violations.push(`context ${context} asked the endpoint ${this.waitUntil[context]! - this.now} ms before its retryAfter ended`);
    }
    this.requests++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.inFlight > 1) this.violations.push(`${this.inFlight} token requests in flight`);
    const answer = this.answers.shift() ?? DEFAULT_ANSWER;
    const sentAt = this.now;
    const clears = this.clears;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, answer.delay);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(abortError(signal));
        });
      });
      if (answer.kind === 'fail') {
        if (answer.retryAfter !== undefined) this.waitUntil[context] = Math.max(this.waitUntil[context]!, this.now + answer.retryAfter);
        throw new SessionError(answer.code, `scripted ${answer.code}`, { status: answer.code === 'rate_limited' ? 429 : 503, retryAfter: answer.retryAfter });
      }
      this.now += answer.jumpDuring;
      const token: Token = { accessToken: `t${this.requests}`, tokenType: 'Bearer', issuedAt: sentAt, expiresAt: sentAt + answer.lifetime };
      this.issued.set(token.accessToken, { token, clears });
      return { token };
    } finally {
      this.inFlight--;
    }
  }

  /** Starts a getToken in `context` and checks what it settles with; never awaited by the command. */
  getToken(context: number, options: { minValidity?: number; forceRefresh?: boolean; rejected?: string }): void {
    const session = this.sessions[context];
    if (session === undefined) return;
    const clearsBefore = this.clears;
    const call = session.getToken(options).then(
      (token) => {
        stats.returned++;
        const now = this.now;
        const issued = this.issued.get(token.accessToken);
        if (issued === undefined) this.violations.push(`a token nobody issued: ${token.accessToken}`);
        else if (issued.clears < clearsBefore) this.violations.push(`${token.accessToken}, fetched before a sign-out, returned after it`);
        if (token.expiresAt <= now) this.violations.push(`${token.accessToken} returned ${now - token.expiresAt} ms after it expired`);
        if (options.rejected !== undefined && token.accessToken === options.rejected) this.violations.push(`the rejected ${token.accessToken} returned`);
      },
      (error: unknown) => {
        stats.failed++;
        const code = (error as SessionError).code;
        stats.codes[code] = (stats.codes[code] ?? 0) + 1;
        if (!(error instanceof SessionError)) this.violations.push(`getToken failed with a non-SessionError: ${String(error)}`);
      },
    );
    this.pending.add(call);
    void call.finally(() => this.pending.delete(call));
  }

  async clear(context: number): Promise<void> {
    const session = this.sessions[context];
    if (session === undefined) return;
    this.clears++;
    await session.clear().catch((error: unknown) => {
      if (!(error instanceof SessionError)) this.violations.push(`clear failed with ${String(error)}`);
    });
  }

  async reopen(context: number): Promise<void> {
    const session = this.sessions[context];
    this.sessions[context] = undefined;
    await session?.close();
    this.open(context);
  }

  /** Every call settles within `bound` real ms; then both contexts are closed. */
  async settle(bound = 2_000): Promise<void> {
    const deadline = Date.now() + bound;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.pending]), new Promise((resolve) => setTimeout(resolve, 50))]);
    }
    if (this.pending.size > 0) this.violations.push(`${this.pending.size} getToken calls did not settle within ${bound} ms`);
    await Promise.all(this.sessions.map((session) => session?.close()));
  }
}

/**
 * The scripted transport: one shared store of the current token, one lock (a promise chain) under which a context
 * calls the endpoint, tokens and sign-outs announced to the other context, and a leader the test moves.
 */
class Bus {
  token: Token | undefined;
  leader = 0;
  readonly peers: (SharingPeer | undefined)[] = [undefined, undefined];
  #lock: Promise<unknown> = Promise.resolve();

  constructor(readonly world: World) {}

  sharingFor(context: number): Sharing {
    return { kind: 'scripted-model', connect: (peer) => this.#connect(context, peer) };
  }

  #connect(context: number, peer: SharingPeer): SharedLink {
    this.peers[context] = peer;
    const isLeader = (): boolean => this.leader === context;
    return {
      get leading() {
        return isLeader();
      },
      load: () => Promise.resolve(this.token && { token: this.token }),
      obtain: (rejected) => this.#obtain(context, peer, rejected),
      clear: () => {
        this.token = undefined;
        this.peers[1 - context]?.receiveClear();
        return Promise.resolve();
      },
      close: () => {
        if (this.peers[context] === peer) this.peers[context] = undefined;
        return Promise.resolve();
      },
    };
  }

  async #obtain(context: number, peer: SharingPeer, rejected: string | undefined): Promise<TokenSet> {
    const run = async (): Promise<TokenSet> => {
      if (this.token !== undefined && peer.isUsable(this.token, rejected)) return { token: this.token };
      const set = await peer.fetchToken();
      this.token = set.token;
      this.peers[1 - context]?.receiveToken(set.token);
      return set;
    };
    const result = this.#lock.then(run, run);
    this.#lock = result.catch(() => undefined);
    return result;
  }

  /** Leadership moves to `context`: the old leader is told first, as a real election would. */
  lead(context: number): void {
    if (this.leader === context) return;
    const old = this.leader;
    this.leader = context;
    this.peers[old]?.leadershipChanged(false);
    this.peers[context]?.leadershipChanged(true);
  }
}

// --- Commands -------------------------------------------------------------------------------------------------

type Model = { readonly world: World };
type Command = fc.AsyncCommand<Model, World>;

const ctx = fc.constantFrom(0, 1);

class GetToken implements Command {
  constructor(
    readonly context: number,
    readonly options: { minValidity?: number; forceRefresh?: boolean; rejectLast?: boolean },
  ) {}
  check = (): boolean => true;
  async run(_model: Model, world: World): Promise<void> {
    const { rejectLast, ...rest } = this.options;
    const last = [...world.issued.keys()].at(-1);
    world.getToken(this.context, { ...rest, ...(rejectLast && last !== undefined ? { rejected: last } : {}) });
    await Promise.resolve();
  }
  toString = (): string => `getToken(${this.context}, ${JSON.stringify(this.options)})`;
}

class Clear implements Command {
  constructor(readonly context: number) {}
  check = (): boolean => true;
  run = (_model: Model, world: World): Promise<void> => world.clear(this.context);
  toString = (): string => `clear(${this.context})`;
}

class Reopen implements Command {
  constructor(readonly context: number) {}
  check = (): boolean => true;
  run = (_model: Model, world: World): Promise<void> => world.reopen(this.context);
  toString = (): string => `close+open(${this.context})`;
}

class Lead implements Command {
  constructor(readonly context: number) {}
  check = (): boolean => true;
  async run(_model: Model, world: World): Promise<void> {
    world.bus.lead(this.context);
  }
  toString = (): string => `lead(${this.context})`;
}

class Script implements Command {
  constructor(readonly answer: Answer) {}
  check = (): boolean => true;
  async run(_model: Model, world: World): Promise<void> {
    world.answers.push(this.answer);
  }
  toString = (): string => `next answer ${JSON.stringify(this.answer)}`;
}

class Jump implements Command {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(_model: Model, world: World): Promise<void> {
    world.now += this.ms;
  }
  toString = (): string => `clock ${this.ms >= 0 ? '+' : ''}${this.ms}`;
}

class Wait implements Command {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  run = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, this.ms));
  toString = (): string => `wait ${this.ms} ms`;
}

const lifetime = fc.constantFrom(1_000, 30_000, 130_000, 3_600_000);
const answer: fc.Arbitrary<Answer> = fc.oneof(
  fc.record({ kind: fc.constant('token' as const), lifetime, delay: fc.constantFrom(0, 1, 5, 15), jumpDuring: fc.constantFrom(0, 0, 500, 40_000, 200_000) }),
  fc.record(
    { kind: fc.constant('fail' as const), code: fc.constantFrom('endpoint_unavailable' as const, 'rate_limited' as const), retryAfter: fc.constantFrom(1_000, 30_000), delay: fc.constantFrom(0, 5) },
    { requiredKeys: ['kind', 'code', 'delay'] },
  ),
);

const getToken = fc
  .tuple(ctx, fc.record({ minValidity: fc.constantFrom(1_000, 100_000), forceRefresh: fc.constant(true), rejectLast: fc.constant(true) }, { requiredKeys: [] }))
  .map(([context, options]) => new GetToken(context, options));

const commands = fc.commands(
  [
    // Calls are what the invariants are about: three times as likely as any other step.
    getToken,
    getToken,
    getToken,
    ctx.map((context) => new Clear(context)),
    ctx.map((context) => new Reopen(context)),
    ctx.map((context) => new Lead(context)),
    answer.map((a) => new Script(a)),
    fc.constantFrom(500, 20_000, 61_000, 3_600_000, -5_000).map((ms) => new Jump(ms)),
    fc.constantFrom(0, 2, 10).map((ms) => new Wait(ms)),
  ],
  { maxCommands: 40 },
);

// --- Runs -----------------------------------------------------------------------------------------------------

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));

/** Runs one schedule and returns what broke (empty when every invariant held). */
async function runSchedule(schedule: Iterable<Command>): Promise<{ violations: string[]; requests: number; maxInFlight: number }> {
  const world = new World();
  await fc.asyncModelRun(() => ({ model: { world }, real: world }), schedule);
  await world.settle();
  // Let any rejection nobody observed surface before the run is judged.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const violations = [...world.violations, ...unhandled.splice(0).map((reason) => `unhandled rejection: ${String(reason)}`)];
  return { violations, requests: world.requests, maxInFlight: world.maxInFlight };
}

describe('shrunk counterexamples, kept as plain regression tests', () => {
  // forceRefresh together with rejected: the session replaced the caller's rejected token by the current one, so a
  // transport holding the rejected token (here: fetched by the other context after a clock step back, so not adopted
  // here as "newer") handed it straight back to the caller that had just reported it.
  it('forceRefresh with rejected never returns the rejected token', async () => {
    const schedule = [
      new Lead(1),
      new GetToken(1, {}),
      new Lead(0),
      new Jump(-5_000),
      new Wait(0),
      new GetToken(0, { minValidity: 100_000, forceRefresh: true, rejectLast: true }),
      new Wait(0),
      new GetToken(1, { minValidity: 100_000, forceRefresh: true, rejectLast: true }),
    ];
    const result = await runSchedule(schedule);
    expect(result.violations).toEqual([]);
  });
});

describe('the session core against a model (random schedules)', () => {
  it('keeps every invariant over random interleavings of calls, sign-outs, closes, leaders, failures and clock jumps', async () => {
    let schedules = 0;
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(commands, async (schedule) => {
        const result = await runSchedule(schedule);
        schedules++;
        requests += result.requests;
        expect(result.violations).toEqual([]);
        expect(result.maxInFlight).toBeLessThanOrEqual(1);
      }),
      { seed: 16, numRuns: 300, endOnFailure: true },
    );
    // The figures the README quotes: how much a run exercised.
    console.warn(JSON.stringify({ schedules, requests, returned: stats.returned, failed: stats.failed, codes: stats.codes }));
    expect(schedules).toBeGreaterThan(0);
    expect(requests).toBeGreaterThan(0);
  }, 60_000);
});
