import { systemClock } from './clock.js';
import type { DPoPRequest, SessionDPoP } from './dpop.js';
import { delay } from './delay.js';
import { SessionError } from './errors.js';
import { DEFAULT_REFRESH_BEFORE_EXPIRY, type GetTokenOptions, type SessionOptions } from './options.js';
import { SessionCore, type SessionEvents } from './session-core.js';
import type { SignInPrompt } from './prompt.js';
import type { Sharing } from '../sharing/sharing.js';
import { liveToken, snapshotOf, subscribeTo, type SessionSnapshot, type SnapshotListener } from './store.js';
import type { Token } from './token.js';

/** One credential's session, as the app sees it. Cheap: handles for one credential share one core. */
export interface Session {
  /** The credential key (public parts only). */
  readonly key: string;
  /** True while this context is the one that refreshes for everyone. */
  readonly isLeader: boolean;
  /** A token valid for at least the refresh margin (or `minValidity`). Authenticates on first use. */
  getToken(options?: GetTokenOptions): Promise<Token>;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void;
  /**
   * Follows the session's state (a framework-neutral store, the Svelte store contract): `listener` gets the current
   * snapshot at once, then each new one, whatever context the change came from. Returns the unsubscribe.
   */
  subscribe(listener: SnapshotListener): () => void;
  /** The session's state now: `{ signedIn, user, token? }`, the same object until it changes (`useSyncExternalStore`). */
  getSnapshot(): SessionSnapshot;
  /**
   * The session's DPoP (RFC 9449) when it was created with `dpop`; undefined for a Bearer session. `createClient`,
   * `fetchWithToken` and the service worker sign every request with it.
   */
  readonly dpop?: SessionDPoP | undefined;
  /**
   * A fresh DPoP proof for a request the app builds itself: send it as the `DPoP` header, with
   * `Authorization: DPoP <accessToken>`. `accessToken` defaults to the session's token (`getToken()`). One proof per
   * request: make a new one for every retry. `invalid_options` for a session created without `dpop`.
   */
  dpopProof(request: DPoPRequest): Promise<string>;
  /** Signs out everywhere: drops the token here and in every context that shares it. */
  clear(): Promise<void>;
  /** Releases this handle; the shared state goes when the last handle for the credential is closed. */
  close(): Promise<void>;
}

// One core per credential per transport in this context, like sentinelhub-py's class-level session cache.
const cores = new WeakMap<Sharing, Map<string, SessionCore>>();

/**
 * Joins the session of `options.provider`'s credential on `sharing`, creating its core on first use. The public
 * `createSession` picks `sharing` (the option, or the runtime's default transport); the core never chooses one.
 */
export function openSession(options: SessionOptions, sharing: Sharing, dpop?: SessionDPoP): Session {
  const { provider, refreshBeforeExpiry = DEFAULT_REFRESH_BEFORE_EXPIRY, signal } = options;
  if (provider === undefined || typeof provider.fetchToken !== 'function' || typeof provider.key !== 'string') {
    throw new SessionError('invalid_options', 'createSession needs a provider');
  }
  if (!Number.isFinite(refreshBeforeExpiry) || refreshBeforeExpiry < 0) {
    throw new SessionError('invalid_options', 'refreshBeforeExpiry must be a finite number >= 0');
  }
  let byKey = cores.get(sharing);
  if (byKey === undefined) cores.set(sharing, (byKey = new Map()));
  let core = byKey.get(provider.key);
  if (core === undefined) {
    const settings = { provider, sharing, refreshBeforeExpiry, clock: options.clock ?? systemClock, fetch: options.fetch ?? globalFetch, dpop };
    byKey.set(provider.key, (core = new SessionCore(settings, byKey)));
  }
  return new SessionHandle(core, refreshBeforeExpiry, signal);
}

/**
 * Signs in through `session` (made by `openSession` with a provider that `signsIn`): see `SessionCore.signIn`. For
 * `shared-session/oidc`, not a method of `Session`: only a sign-in library has the authorization code it needs.
 */
export async function signInSession(
  session: Session,
  { signOutFirst = true, onPrompt }: { signOutFirst?: boolean; onPrompt?: ((prompt: SignInPrompt) => void) | undefined } = {},
): Promise<Token> {
  const core = SessionHandle.coreOf(session);
  // The device flow signs in only when nobody is (`deviceSignIn`): a sign-in of another process under way is joined;
  // one it starts shows its prompt here (`onPrompt`), wherever it runs.
  if (!signOutFirst) return core.signIn(onPrompt);
  // Signed out everywhere first: no token or refresh token of an earlier grant (perhaps another user's) outlives
  // the sign-in.
  await core.clear();
  // The new token must be issued strictly after that sign-out: it is how every other context tells it from the ones
  // the sign-out ended. Bounded, for a clock that does not move (a test's).
  const signedOut = core.clock.now();
  for (let waits = 0; waits < 20 && core.clock.now() <= signedOut; waits++) await delay(1);
  return core.signIn();
}

/** The newest refresh token shared for `session`'s credential, for revoking it at sign-out (`shared-session/oidc`). */
export function sharedRefreshToken(session: Session): Promise<string | undefined> {
  return SessionHandle.coreOf(session).refreshToken();
}

// Looked up on each call, so that a fetch installed later (a test, an instrumentation library) is used.
const globalFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => globalThis.fetch(input, init);

/**
 * A class rather than an object literal: a pooled server may hold 100,000 handles, and a literal with a getter and
 * closures costs V8 a hidden class and a dozen functions per handle, about 1.5 KB more than this.
 */
class SessionHandle implements Session {
  readonly #core: SessionCore;
  readonly #refreshBeforeExpiry: number;
  // Created only when needed: most handles never subscribe and have no signal.
  #unsubscribers: Set<() => void> | undefined;
  #abort: { signal: AbortSignal; listener: () => void } | undefined;
  #snapshot: SessionSnapshot<never> | undefined;
  #closed = false;

  /** The core behind a handle of this module (an app's own `Session` object has none). */
  static coreOf(session: Session): SessionCore {
    if (!(session instanceof SessionHandle) || session.#closed) throw new SessionError('closed', 'Not an open session');
    return session.#core;
  }

  constructor(core: SessionCore, refreshBeforeExpiry: number, signal: AbortSignal | undefined) {
    this.#core = core;
    this.#refreshBeforeExpiry = refreshBeforeExpiry;
    core.retain();
    if (signal?.aborted) {
      void this.close();
    } else if (signal !== undefined) {
      const listener = (): void => void this.close();
      this.#abort = { signal, listener };
      signal.addEventListener('abort', listener, { once: true });
    }
  }

  get key(): string {
    return this.#core.key;
  }

  get isLeader(): boolean {
    return this.#core.leading;
  }

  get dpop(): SessionDPoP | undefined {
    return this.#core.dpop;
  }

  async dpopProof(request: DPoPRequest): Promise<string> {
    this.#assertOpen();
    const dpop = this.#core.dpop;
    if (dpop === undefined) throw new SessionError('invalid_options', 'This session was created without dpop: it has no DPoP key');
    const { method, url, accessToken } = request ?? {};
    return dpop.proof({ method, url, accessToken: accessToken ?? (await this.getToken()).accessToken });
  }

  async getToken({ forceRefresh = false, minValidity, rejected, signal }: GetTokenOptions = {}): Promise<Token> {
    this.#assertOpen();
    if (minValidity !== undefined && !(typeof minValidity === 'number' && minValidity >= 0)) {
      throw new SessionError('invalid_options', 'minValidity must be a number of ms, 0 or more');
    }
    const core = this.#core;
    return core.getToken(
      {
        refreshBeforeExpiry: this.#refreshBeforeExpiry,
        minValidity,
        rejected,
        // Both hold when both are given: the caller's rejected token is never returned, and neither is the current one.
        replaced: forceRefresh ? core.token?.accessToken : undefined,
      },
      signal,
    );
  }

  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void {
    this.#assertOpen();
    const off = this.#core.events.on(event, listener);
    const unsubscribers = (this.#unsubscribers ??= new Set());
    unsubscribers.add(off);
    return () => {
      off();
      unsubscribers.delete(off);
    };
  }

  subscribe(listener: SnapshotListener<never>): () => void {
    const handle = { now: () => this.#core.clock.now(), closed: () => this.#closed };
    return subscribeTo(() => this.getSnapshot(), (changed) => watch(this, this.#closed, ['token', 'cleared', 'error'], changed), listener, handle);
  }

  /**
   * Signed in: a token can be had without a user (a sign-in's token, or any token of a credential that needs no
   * user). A closed handle reads as signed out; its listeners went with `close()`.
   */
  getSnapshot(): SessionSnapshot<never> {
    const core = this.#core;
    const token = this.#closed ? undefined : liveToken(core.token, core.clock.now());
    const signedIn = !this.#closed && !core.signedOut && (token !== undefined || !core.signsIn);
    return (this.#snapshot = snapshotOf(this.#snapshot, signedIn, undefined, token));
  }

  async clear(): Promise<void> {
    this.#assertOpen();
    await this.#core.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.signal.removeEventListener('abort', this.#abort.listener);
    if (this.#unsubscribers !== undefined) for (const off of this.#unsubscribers) off();
    await this.#core.release();
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionError('closed', 'The session was closed');
  }
}

/** Calls `changed` on each of `events` of `session` (none once closed); returns the function that stops. */
export function watch<E extends string>(
  session: { on(event: E, listener: () => void): () => void },
  closed: boolean,
  events: readonly E[],
  changed: () => void,
): () => void {
  const offs = closed ? [] : events.map((event) => session.on(event, changed));
  return () => {
    for (const off of offs) off();
  };
}
