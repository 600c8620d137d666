import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createSession, isSessionError, type Session } from '../../src/index.js';
import { signInSession } from '../../src/core/session.js';
import type { Token, TokenSet } from '../../src/core/token.js';
import type { FetchTokenContext, TokenProvider } from '../../src/providers/provider.js';
import type { SharedLink, Sharing, SharingPeer } from '../../src/sharing/sharing.js';

// A property test of the core's sign-in support (SessionCore.signIn, the lifted `login_required`), trying to break
// its two rules with random interleavings of sign-ins here and elsewhere, sign-outs here and elsewhere, late token
// messages from before a sign-out, refreshes, forced refreshes and clock jumps:
// - nothing issued before a sign-out is handed out after it (until a later sign-in, only its tokens);
// - a refresh token is never sent twice, and never one of a grant a sign-out ended.
// The provider is a scripted authorization server with rotation; the transport is scripted too (one context and its
// shared record), and forwards what the commands deliver as another context's messages, late ones included.

const START = 1_700_000_000_000;
const LIFETIME = 4_000;

interface Grant {
  readonly id: number;
  /** The clock when it began (its code exchange). */
  readonly startedAt: number;
  current: string;
  readonly spent: Set<string>;
}

class World {
  now = START;
  /** The latest sign-out anywhere (fake clock). */
  signedOutAt = 0;
  readonly clock = { now: (): number => this.now };
  readonly grants: Grant[] = [];
  readonly byRefreshToken = new Map<string, Grant>();
  readonly violations: string[] = [];
  readonly issued = new Map<string, number>(); // access token → issuedAt
  peer!: SharingPeer;
  /** The shared record: what another context stored (the newest token set). */
  stored: TokenSet | undefined;
  session: Session;

  constructor() {
    const sharing: Sharing = { kind: 'scripted', connect: (peer) => this.#link(peer) };
    this.session = createSession({ provider: this.#provider(), sharing, clock: this.clock, refreshBeforeExpiry: 1_000 });
  }

  #provider(): TokenProvider {
    return {
      key: 'sign-in-model',
      canRefresh: true,
      usesRefreshToken: true,
      signsIn: true,
      fetchToken: (context) => this.#fetch(context),
    };
  }

  #link(peer: SharingPeer): SharedLink {
    this.peer = peer;
    return {
      leading: true,
      load: () => Promise.resolve(this.stored),
      obtain: async () => (this.stored = await peer.fetchToken(this.stored?.refreshToken)),
      obtainHere: async () => (this.stored = await peer.fetchToken(undefined, true)),
      clear: async () => {
        this.signOut();
      },
      close: () => Promise.resolve(),
    };
  }

  /** A sign-out anywhere: the record keeps nothing from before it. */
  signOut(): void {
    this.signedOutAt = this.now;
    this.stored = undefined;
    // Time goes on: a sign-in right after (signInSession waits for the clock to move) comes a millisecond later.
    setTimeout(() => {
      this.now = Math.max(this.now, this.signedOutAt + 1);
    }, 0);
  }

  /** A new grant (a code exchange), here or elsewhere. */
  startGrant(): TokenSet {
    const grant: Grant = { id: this.grants.length, startedAt: this.now, current: `rt-${this.grants.length}-0`, spent: new Set() };
    this.grants.push(grant);
    this.byRefreshToken.set(grant.current, grant);
    return { token: this.token(), refreshToken: grant.current };
  }

  token(issuedAt = this.now): Token {
    const accessToken = `at-${this.issued.size}`;
    this.issued.set(accessToken, issuedAt);
    return { accessToken, tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + LIFETIME };
  }

  async #fetch(context: FetchTokenContext): Promise<TokenSet> {
    await Promise.resolve();
    if (context.signIn === true) return this.startGrant();
    const sent = context.refreshToken;
    if (sent === undefined) throw Object.assign(new Error('no refresh token'), { name: 'SessionError', code: 'login_required' });
    const grant = this.byRefreshToken.get(sent);
    if (grant === undefined) throw new Error(`unknown refresh token ${sent}`);
    if (grant.spent.has(sent)) this.violations.push(`refresh token ${sent} sent twice`);
    if (grant.startedAt < this.signedOutAt) this.violations.push(`refresh token ${sent} of a grant from before the sign-out sent after it`);
    grant.spent.add(sent);
    grant.current = `rt-${grant.id}-${grant.spent.size}`;
    this.byRefreshToken.set(grant.current, grant);
    return { token: this.token(), refreshToken: grant.current };
  }

  /** A token handed out: never one issued before the latest sign-out. */
  check(token: Token): void {
    if (token.issuedAt <= this.signedOutAt && this.signedOutAt > 0) {
      this.violations.push(`${token.accessToken} (issued ${token.issuedAt - START}) handed out after the sign-out at ${this.signedOutAt - START}`);
    }
  }
}

type Command =
  | { kind: 'signIn' }
  | { kind: 'signInElsewhere' }
  | { kind: 'clear' }
  | { kind: 'clearElsewhere' }
  | { kind: 'lateMessage' }
  | { kind: 'getToken' }
  | { kind: 'forceRefresh' }
  | { kind: 'tick'; ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.constant({ kind: 'signIn' as const }),
  fc.constant({ kind: 'signInElsewhere' as const }),
  fc.constant({ kind: 'clear' as const }),
  fc.constant({ kind: 'clearElsewhere' as const }),
  fc.constant({ kind: 'lateMessage' as const }),
  fc.constant({ kind: 'getToken' as const }),
  fc.constant({ kind: 'forceRefresh' as const }),
  fc.integer({ min: 0, max: 3_000 }).map((ms) => ({ kind: 'tick' as const, ms })),
);

async function run(world: World, step: Command): Promise<void> {
  const { session, peer } = world;
  const take = async (promise: Promise<Token>): Promise<void> => {
    try {
      world.check(await promise);
    } catch (error) {
      if (!isSessionError(error)) throw error;
    }
  };
  switch (step.kind) {
    case 'signIn':
      return take(signInSession(session));
    case 'signInElsewhere': {
      // Another context signed out (its sign-in does), then exchanged a code and broadcast the token.
      world.signOut();
      peer.receiveClear(world.now);
      world.now += 1;
      const set = world.startGrant();
      world.stored = set;
      peer.receiveToken(set.token);
      return;
    }
    case 'clear':
      return session.clear();
    case 'clearElsewhere':
      world.signOut();
      peer.receiveClear(world.now);
      return;
    case 'lateMessage': {
      // A broadcast from before the latest sign-out arrives after it (a slow tab, a frozen one waking up).
      if (world.signedOutAt === 0) return;
      peer.receiveToken(world.token(world.signedOutAt - 1));
      return;
    }
    case 'getToken':
      return take(session.getToken());
    case 'forceRefresh':
      return take(session.getToken({ forceRefresh: true }));
    case 'tick':
      world.now += step.ms;
      return;
  }
}

it('sign-ins, sign-outs and late messages in any order: nothing from before a sign-out handed out, no refresh token sent twice', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), async (commands) => {
      const world = new World();
      for (const step of commands) await run(world, step);
      await world.session.close();
      expect(world.violations).toEqual([]);
    }),
    { numRuns: 300 },
  );
});

it('a late message from before the sign-out never ends login_required; a token of a later sign-in does', async () => {
  const world = new World();
  await run(world, { kind: 'signIn' });
  await run(world, { kind: 'clearElsewhere' });
  world.now += 10;
  await run(world, { kind: 'lateMessage' });
  const refused: unknown = await world.session.getToken().catch((error: unknown) => error);
  expect(isSessionError(refused, 'login_required')).toBe(true);
  await run(world, { kind: 'signInElsewhere' });
  const token = await world.session.getToken({ forceRefresh: true });
  expect(token.issuedAt).toBeGreaterThan(world.signedOutAt);
  expect(world.violations).toEqual([]);
  await world.session.close();
});
