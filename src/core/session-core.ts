import type { Clock } from './clock.js';
import type { SessionDPoP } from './dpop.js';
import { abortError, isSessionError, SessionError } from './errors.js';
import { Emitter } from './events.js';
import type { SignInPrompt } from './prompt.js';
import type { TokenProvider } from '../providers/provider.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing/sharing.js';
import { boundedByClock, type Freshness, isExpired, isNewer, isUsable, refreshAt, type Token, type TokenSet } from './token.js';

/** Where a token that became current came from. */
export type TokenSource = 'endpoint' | 'storage' | 'remote';

/** The events of a session. Listeners get called synchronously, in the order they were added. */
export interface SessionEvents {
  /** This context called the token endpoint and got a token. */
  authenticated: (token: Token) => void;
  /** A new token became current in this context, from anywhere. */
  token: (token: Token, source: TokenSource) => void;
  /** The token was dropped: by `clear()` here (`local`) or in another context (`remote`). */
  cleared: (origin: 'local' | 'remote') => void;
  /** A failure: a token request (also the ones callers see), a background refresh, or a sharing problem. */
  error: (error: SessionError) => void;
  /** This context started (`true`) or stopped (`false`) being the leader that refreshes for everyone. */
  leader: (leading: boolean) => void;
}

export interface CoreSettings {
  readonly provider: TokenProvider;
  readonly sharing: Sharing;
  readonly refreshBeforeExpiry: number;
  readonly clock: Clock;
  readonly fetch: typeof globalThis.fetch;
  /** The session's DPoP, when it was created with `dpop` (its provider then signs every token request with it). */
  readonly dpop?: SessionDPoP | undefined;
}

// setTimeout overflows past 2^31-1 ms and fires at once.
const MAX_TIMER = 2_147_483_647;
const RETRY_REFRESH_AFTER = 5_000;
/** The longest a failure's `retryAfter` is remembered: a server asking for more is asked again after this. */
const MAX_REMEMBERED_FAILURE = 3_600_000;
/**
 * Token requests made again after an answer that came when its token had already expired: one late answer is a
 * stall (a busy machine, a paused process), and a second in a row still can be under heavy load; a third says that
 * the round trip outlasts the token's lifetime, and each further request would only rotate the grant once more.
 */
const LATE_ANSWER_RETRIES = 2;

/**
 * The state of one credential in one context, shared by every `Session` handle created for it.
 * Single flight: at most one renewal runs at a time; every caller waits for it.
 *
 * The core is its own `SharingPeer`: methods on one prototype instead of an object of closures, because a server
 * pool may hold 100,000 cores and each closure costs about 60 bytes more per session.
 */
export class SessionCore implements SharingPeer {
  readonly provider: TokenProvider;
  readonly clock: Clock;
  readonly dpop: SessionDPoP | undefined;
  readonly #refreshBeforeExpiry: number;
  readonly #fetch: typeof globalThis.fetch;
  /** The cores of this transport in this context, by credential key: this core leaves it when its last handle goes. */
  readonly #registry: Map<string, SessionCore>;
  readonly #link: SharedLink;
  // Created on the first listener: most pooled sessions never get one.
  #events: Emitter<SessionEvents> | undefined;
  #token: Token | undefined;
  #flight: Promise<Token> | undefined;
  #flightAbort: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Bumped by every sign-out; a token fetched across one is discarded. */
  #generation = 0;
  /** A failure the server asked us to wait out (its `retryAfter`): until then every caller gets it, none asks again. */
  #backoff: { readonly error: SessionError; readonly until: number } | undefined;
  /** Signed out while the provider depends on its refresh token: that token is spent or revoked, so never sent again. */
  #signedOut = false;
  /** When this context learnt of the last sign-out (epoch ms): only a token issued after it can end `#signedOut`. */
  #signedOutAt = 0;
  #handles = 0;

  constructor(settings: CoreSettings, registry: Map<string, SessionCore>) {
    this.provider = settings.provider;
    this.clock = settings.clock;
    this.dpop = settings.dpop;
    this.#refreshBeforeExpiry = settings.refreshBeforeExpiry;
    this.#fetch = settings.fetch;
    this.#registry = registry;
    this.#link = settings.sharing.connect(this);
  }

  get key(): string {
    return this.provider.key;
  }

  get usesRefreshToken(): boolean {
    return this.provider.usesRefreshToken;
  }

  get initialRefreshTokenDigest(): string | undefined {
    return this.provider.initialRefreshTokenDigest;
  }

  get signsIn(): boolean {
    return this.provider.signsIn === true;
  }

  get events(): Emitter<SessionEvents> {
    return (this.#events ??= new Emitter());
  }

  get token(): Token | undefined {
    return this.#token;
  }

  get leading(): boolean {
    return this.#link.leading;
  }

  /** Signed out for good until a new sign-in: no token can be had without a user (`login_required`). */
  get signedOut(): boolean {
    return this.#signedOut;
  }

  retain(): void {
    this.#handles++;
  }

  async release(): Promise<void> {
    if (--this.#handles > 0 || this.#closed) return;
    this.#closed = true;
    this.#cancelTimer();
    const closed = new SessionError('closed', 'The session was closed');
    // A refresh token in flight is not given up at close: its answer holds the only copy of the next one, which a
    // transport passes on before it lets another context lead (the request runs on in this process anyway).
    if (!this.provider.usesRefreshToken) this.#flightAbort?.abort(closed);
    if (this.#registry.get(this.key) === this) this.#registry.delete(this.key);
    this.#events = undefined;
    await this.#link.close();
    this.#flightAbort?.abort(closed);
  }

  async getToken(need: Freshness, signal?: AbortSignal): Promise<Token> {
    this.#assertOpen();
    // A call that is already over starts no token request.
    if (signal?.aborted) throw abortError(signal);
    const { replaced, ...rest } = need;
    const freshness = this.provider.canRefresh ? rest : { ...rest, refreshBeforeExpiry: 0 };
    // A token this call must never get: the one it reported as rejected, or the one a forced refresh replaces.
    const refused = (token: Token): boolean => token.accessToken === need.rejected || token.accessToken === replaced;
    // A sign-out or a newer token this context missed (it was in the back/forward cache) reaches it first.
    const catchingUp = this.#link.catchingUp;
    if (catchingUp !== undefined) await raceAbort(catchingUp, signal);
    if (isUsable(this.#token, this.clock.now(), freshness) && !refused(this.#token)) return this.#token;
    // A flight started by another caller may bring back a token that is not good enough for this one (the token it
    // rejected, or too short for its minValidity): then fly once more, rejecting that token, and take what comes —
    // unless the clock calls it expired or it is a token this call refused.
    let wanted = replaced === undefined || replaced === need.rejected ? freshness : { ...freshness, rejected: replaced };
    const calledAt = this.clock.now();
    for (let round = 0; ; round++) {
      // A flight that ran before this call: an expired token from it is the end of its late answers (`fetchToken`),
      // which a second flight would only repeat — the call fails with it.
      const joined = this.#flight;
      this.#flight ??= this.#renew(wanted);
      const token: Token = await raceAbort(this.#flight, signal);
      const now = this.clock.now();
      // Within the refresh margin but still valid for this call: nothing newer could be had yet (see `#renew`). Handed
      // out, not asked for again as `rejected` — which a transport must take for an API's 401.
      if (stillValid(token, now, wanted) && !refused(token)) return token;
      // Requested since this call began and still too short: the endpoint issues no longer tokens (a minValidity at
      // or above their lifetime), so a second request would bring the same; the best token there is goes back.
      const requestedForThisCall = token.issuedAt >= calledAt && token.accessToken !== wanted.rejected;
      if (round > 0 || (requestedForThisCall && !refused(token)) || (joined && isExpired(token, now))) {
        if (isExpired(token, now)) throw new SessionError('token_expired', 'No unexpired token could be obtained');
        if (refused(token)) {
          throw new SessionError('token_rejected', 'The only token to be had is the one the API rejected');
        }
        return token;
      }
      wanted = { ...wanted, rejected: token.accessToken };
    }
  }

  async clear(): Promise<void> {
    this.#assertOpen();
    this.#drop();
    await this.#link.clear();
    this.#emit('cleared', 'local');
  }

  /**
   * The fetch of a sign-in (`shared-session/oidc`, see `signInSession`, which signs out everywhere first): lifts
   * `login_required` and runs the provider's fetch in this context, where the sign-in's input is
   * (`SharedLink.obtainHere`). A sign-out meanwhile ends it (the generation check in `fetchToken`, and the
   * transport's own).
   */
  async signIn(onPrompt?: (prompt: SignInPrompt) => void): Promise<Token> {
    this.#assertOpen();
    const obtainHere = this.#link.obtainHere;
    if (this.provider.signsIn !== true || obtainHere === undefined) {
      throw new SessionError('invalid_options', 'This provider or sharing transport cannot sign users in');
    }
    this.#signedOut = false;
    // A failure remembered for the earlier grant says nothing about the new one.
    this.#backoff = undefined;
    try {
      return boundedByClock((await obtainHere.call(this.#link, onPrompt)).token, this.clock.now());
    } catch (error) {
      // No new grant: signed out as before, unless a token of a sign-in elsewhere came meanwhile.
      if (this.#token === undefined) this.#signedOut = true;
      throw error;
    }
  }

  /** The newest refresh token the transport holds for this credential (for revoking it at sign-out), if any. */
  async refreshToken(): Promise<string | undefined> {
    this.#assertOpen();
    return (await this.#link.load().catch(() => undefined))?.refreshToken;
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionError('closed', 'The session was closed');
  }

  #renew(need: Freshness): Promise<Token> {
    const abort = (this.#flightAbort = new AbortController());
    const run = async (): Promise<Token> => {
      const stored = await this.#link.load().catch((error: unknown) => {
        this.report(toSessionError(error, 'corrupt_storage', 'The shared token could not be read'));
        return undefined;
      });
      if (abort.signal.aborted) throw abortError(abort.signal);
      const now = this.clock.now();
      const storedToken = stored && boundedByClock(stored.token, now);
      // Even a stale token proves a sign-in after our sign-out: it is refreshed rather than refused.
      if (storedToken !== undefined) this.#signedInSince(storedToken);
      if (storedToken !== undefined && !this.#endedBySignOut(storedToken) && isUsable(storedToken, now, need)) {
        this.#adopt(storedToken, 'storage');
        return storedToken;
      }
      const refusal = this.#refusal();
      if (refusal !== undefined) throw refusal;
      const set = await this.#link.obtain(need.rejected).catch((error: unknown) => {
        // A refresh ahead of expiry that cannot run yet (another context holds it and did not finish in time): the
        // current token stays in use while it is valid for this need, and the leader tries again (`#schedule`).
        if (isSessionError(error, 'timeout') && stillValid(this.#token, this.clock.now(), need)) return { token: this.#token };
        throw error;
      });
      if (abort.signal.aborted) throw abortError(abort.signal);
      const token = boundedByClock(set.token, this.clock.now());
      // Not adopted (late answers, see `fetchToken`) while the token held here is still good for this need (a
      // refresh ahead of expiry): that one goes back, not a failure.
      return this.#adopt(token, 'remote') || !stillValid(this.#token, this.clock.now(), need) ? token : this.#token;
    };
    return run()
      .catch((error: unknown) => {
        const failure = toSessionError(error, 'request_failed', 'The token could not be obtained');
        // A refusal is this session's state, told once (`cleared`, or the failure that started the back-off).
        if (!refusals.has(failure)) {
          this.#remember(failure);
          this.report(failure);
        }
        throw failure;
      })
      .finally(() => {
        if (this.#flightAbort === abort) {
          this.#flight = undefined;
          this.#flightAbort = undefined;
        }
      });
  }

  /**
   * Why no token request may be sent now, if one must not: signed out with a spent refresh token, or inside the
   * `retryAfter` of a failure (a 429 with `Retry-After`, an endpoint that stayed down), which every caller then gets
   * with the time that is left — in this context, and in those that ask this one.
   */
  #refusal(signingIn = false): SessionError | undefined {
    if (this.#signedOut && !signingIn) return refusal(new SessionError('login_required', 'Signed out: the session needs a new sign-in'));
    const backoff = this.#backoff;
    if (backoff === undefined) return undefined;
    const left = backoff.until - this.clock.now();
    if (left <= 0) {
      this.#backoff = undefined;
      return undefined;
    }
    const { code, message, status, oauthError } = backoff.error;
    return refusal(new SessionError(code, message, { status, oauthError, retryAfter: left }));
  }

  /** Keeps a failure that says how long to wait, so that nobody asks the endpoint again before then. */
  #remember(error: SessionError): void {
    const { retryAfter } = error;
    if (retryAfter === undefined || !(retryAfter > 0)) return;
    this.#backoff = { error, until: this.clock.now() + Math.min(retryAfter, MAX_REMEMBERED_FAILURE) };
  }

  /** Makes `token` current unless it is older than what we hold, or expired. */
  #adopt(token: Token, source: TokenSource): boolean {
    if (this.#token !== undefined && this.#token.accessToken === token.accessToken) return true;
    if (!isNewer(token, this.#token) || isExpired(token, this.clock.now()) || this.#endedBySignOut(token)) return false;
    this.#signedInSince(token);
    this.#token = token;
    this.#schedule();
    this.#emit('token', token, source);
    return true;
  }

  /**
   * Ends `#signedOut` for a provider that `signsIn`, when `token` was issued after the sign-out: someone signed in
   * since (the transports hand on no token issued before a sign-out they know of; this check does not rely on it).
   */
  #signedInSince(token: Token): void {
    if (this.#signedOut && this.provider.signsIn === true && token.issuedAt > this.#signedOutAt) this.#signedOut = false;
  }

  /**
   * A token the sign-out this context is in ended (issued before it): never adopted or handed out, whatever a
   * transport or a late message brings. The transports filter these already; this does not rely on it.
   */
  #endedBySignOut(token: Token): boolean {
    return this.#signedOut && token.issuedAt <= this.#signedOutAt;
  }

  /** Sign-out, here or elsewhere: a renewal or fetch that started before it must not bring its token back. */
  #drop(at = this.clock.now()): void {
    this.#token = undefined;
    this.#generation++;
    if (this.provider.usesRefreshToken) {
      this.#signedOut = true;
      this.#signedOutAt = Math.max(this.#signedOutAt, at);
    }
    this.#cancelTimer();
    this.#flightAbort?.abort(new SessionError('aborted', 'The session was cleared'));
    this.#flight = undefined;
    this.#flightAbort = undefined;
  }

  /** The leader refreshes ahead of expiry so that readers never wait; readers still check expiry on every read. */
  #schedule(retryIn?: number): void {
    this.#cancelTimer();
    const token = this.#token;
    if (this.#closed || token === undefined || !this.#link.leading || !this.provider.canRefresh) return;
    const due = retryIn ?? refreshAt(token, this.#refreshBeforeExpiry) - this.clock.now();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // No new token (the refresh failed, reported through `error`, or could not run yet): try again while the
      // current token is still alive, at shorter and shorter intervals. A new token schedules its own refresh.
      const retry = (): void => {
        const left = (this.#token?.expiresAt ?? 0) - this.clock.now();
        if (left > 0 && this.#timer === undefined) this.#schedule(Math.min(RETRY_REFRESH_AFTER, left / 2));
      };
      this.getToken({ refreshBeforeExpiry: this.#refreshBeforeExpiry }).then(retry, retry);
    }, Math.min(MAX_TIMER, Math.max(0, due)));
    // Do not keep a Node or Deno process alive just to refresh a token nobody may ask for.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Emits without creating the emitter: nobody listens to a core that has none. */
  #emit<E extends keyof SessionEvents>(event: E, ...args: Parameters<SessionEvents[E]>): void {
    this.#events?.emit(event, ...args);
  }

  // SharingPeer: what the transport calls.

  isUsable(token: Token, rejected?: string): boolean {
    return isUsable(token, this.clock.now(), {
      refreshBeforeExpiry: this.provider.canRefresh ? this.#refreshBeforeExpiry : 0,
      rejected,
    });
  }

  async fetchToken(refreshToken?: string, signIn?: boolean, onPrompt?: (prompt: SignInPrompt) => void): Promise<TokenSet> {
    // A sign-in sends no refresh token: being signed out is no reason to refuse it (in the context that runs it for
    // another, which `signIn()` did not reach).
    const refusal = this.#refusal(signIn === true);
    if (refusal !== undefined) throw refusal;
    const signal = this.#flightAbort?.signal ?? new AbortController().signal;
    const generation = this.#generation;
    let set = await this.#request(signal, generation, refreshToken, signIn, onPrompt);
    // `expiresAt` counts from when the request was sent: an answer slower than the token's life (a busy machine, a
    // slow network, a tiny `expires_in`) brings a dead token. It is never handed out, but the refresh token it brings
    // is the grant's next one (the one sent is spent): the session asks again with it, a bounded number of times.
    // Without a grant to keep (client credentials) it fails at once: asking again would cost a request per late
    // answer where another context (a new leader, a follower's token) may already have served everyone.
    for (let late = 0; isExpired(set.token, this.clock.now()); ) {
      const next = this.provider.usesRefreshToken ? (set.refreshToken ?? refreshToken) : undefined;
      let failure: unknown;
      if (next === undefined || ++late > LATE_ANSWER_RETRIES) {
        // An answer that came after its token expired (once more): never handed out; a grant is kept.
        failure = new SessionError('token_expired', 'No unexpired token could be obtained: the answers came late');
      }
      else {
        try {
          set = await this.#request(signal, generation, next);
          continue;
        } catch (error) {
          // The grant is over (its refresh token refused), or signed out meanwhile: nothing to keep. Aborted (closed):
          // an answer that spent `next` may have been dropped, so `next` is not the grant's newest — failed as without
          // late answers (the transports keep a rotation that may have spent its token from being sent again).
          if (isSessionError(error, 'invalid_grant') || generation !== this.#generation || signal.aborted) throw error;
          failure = error;
        }
      }
      // Without a refresh token to keep, nothing of the answer is worth passing on.
      if (next === undefined) throw failure;
      // The late answer's refresh token is the grant's newest: kept where the transport keeps refresh tokens, with a
      // token no context hands out (`getToken` fails `token_expired`), and the failure told. The next call continues
      // the grant from it instead of sending the spent one, or signing out.
      if (isSessionError(failure)) this.report(failure);
      return { token: set.token, refreshToken: next };
    }
    this.#emit('authenticated', set.token);
    this.#adopt(set.token, 'endpoint');
    return set;
  }

  /** One call of the provider, for this context or another, in the sign-out generation `generation`. */
  async #request(signal: AbortSignal, generation: number, refreshToken?: string, signIn?: boolean, onPrompt?: (prompt: SignInPrompt) => void): Promise<TokenSet> {
    let set: TokenSet;
    try {
      const context = { signal, fetch: this.#fetch, clock: this.clock, refreshToken };
      set = await this.provider.fetchToken(signIn === true ? { ...context, signIn, onPrompt } : context);
    } catch (error) {
      // Fetched for another context too: what the server said about waiting holds for every caller here.
      if (isSessionError(error)) this.#remember(error);
      throw error;
    }
    if (signal.aborted) throw abortError(signal);
    // Fetched for another context (no flight of ours to abort) while a sign-out happened.
    if (generation !== this.#generation) throw new SessionError('aborted', 'The session was cleared');
    return set;
  }

  receiveToken(token: Token): boolean {
    return this.#adopt(boundedByClock(token, this.clock.now()), 'remote');
  }

  receiveClear(at?: number): void {
    if (this.#closed) return;
    // Bounded by our clock: a sign-out from the future would refuse every sign-in until then.
    this.#drop(at === undefined ? undefined : Math.min(at, this.clock.now()));
    this.#emit('cleared', 'remote');
  }

  leadershipChanged(leading: boolean): void {
    this.#schedule();
    this.#emit('leader', leading);
  }

  report(error: SessionError): void {
    this.#emit('error', error);
  }
}

/** The errors a core made up to refuse a request (see `#refusal`), as opposed to failures that happened. */
const refusals = new WeakSet<SessionError>();

function refusal(error: SessionError): SessionError {
  refusals.add(error);
  return error;
}

/**
 * Not expired, long enough for `need.minValidity` and not `need.rejected`: usable but for the refresh margin.
 */
function stillValid(token: Token | undefined, now: number, need: Freshness): token is Token {
  return isUsable(token, now, { ...need, refreshBeforeExpiry: 0 });
}

function toSessionError(error: unknown, code: SessionError['code'], message: string): SessionError {
  return isSessionError(error) ? error : new SessionError(code, message, { cause: error });
}

/** `promise`, or an abort error as soon as `signal` aborts. Always observes `promise`: a shared flight every caller
 * left must not fail unhandled. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
