import { isSessionError, SessionError } from '../../core/errors.js';
import type { SignInPrompt } from '../../core/prompt.js';
import { isExpired, type Token, type TokenSet } from '../../core/token.js';
import type { SharingPeer } from '../sharing.js';
import { heartbeat } from './liveness.js';
import type { Outgoing } from './protocol.js';
import type { TokenStore } from './store.js';

/** Thrown inside a leader that found its socket replaced: the caller asks the new leader instead. */
export const STEPPED_DOWN = new SessionError('aborted', 'This context is no longer the leader');

/** What the token requests of a context need of its link. */
export interface FlightHooks {
  /**
   * Runs before each token request: throws `STEPPED_DOWN` when a context that took our socket for stale (or us for
   * silent) leads now — then it fetches, not us — and `closed` when the session closed.
   */
  readonly beforeRequest: () => void;
  /** Applies a sign-out recorded on disk that this context has not heard of (see `LocalLink`). */
  readonly catchUp: () => void;
  /** Whether this context leads a socket now, with clients to tell of each token. */
  readonly serving: () => boolean;
  /** Tells every client of this context, if it leads. */
  readonly broadcast: (message: Outgoing) => void;
  /** Signs every context out to `epoch` (a refresh token the provider refused). */
  readonly signOutEverywhere: (epoch: number) => void;
}

/**
 * The token requests of one context that leads (or keeps its own session): one refresh and one sign-in at a time,
 * which every caller — here or in a client — joins while it runs.
 */
export class TokenFlights {
  readonly #peer: SharingPeer;
  readonly #store: TokenStore;
  readonly #hooks: FlightHooks;
  /** The one token request of this context. */
  #flight: Promise<Token> | undefined;
  /** The one sign-in of this context, which every context that signs in meanwhile joins. */
  #signInFlight: Promise<Token> | undefined;
  /** The refresh token the provider refused (`invalid_grant`): never sent again. */
  #refusedRefreshToken: string | undefined | null = null;

  constructor(peer: SharingPeer, store: TokenStore, hooks: FlightHooks) {
    this.#peer = peer;
    this.#store = store;
    this.#hooks = hooks;
  }

  /** The token request under way, if any. */
  get inFlight(): Promise<Token> | undefined {
    return this.#flight;
  }

  /** A usable token from memory, or from the one token request of this context, shared by every caller. */
  async fetchShared(rejected: string | undefined): Promise<Token> {
    for (let round = 0; ; round++) {
      const latest = this.#store.latest;
      if (latest !== undefined && this.#peer.isUsable(latest, rejected)) return latest;
      // No token, and a sign-in under way: it brings the first one.
      if (latest === undefined && this.#signInFlight !== undefined) return this.#signInFlight;
      if (this.#flight === undefined) {
        const started: Promise<Token> = this.#refresh().finally(() => {
          if (this.#flight === started) this.#flight = undefined;
        });
        this.#flight = started;
      }
      const token = await this.#flight;
      // A flight started for another caller may bring back the token this one rejected: fly once more. Not for an
      // expired one: its answers came late, as they would again (the session fails the call, the grant is kept).
      if (round > 0 || this.#peer.isUsable(token, rejected) || isExpired(token, this.#peer.clock.now())) return token;
    }
  }

  /** The token held, when usable; else the sign-in of this context, started now or joined. */
  signInShared(onPrompt?: (prompt: SignInPrompt) => void): Promise<Token> {
    const latest = this.#store.latest;
    if (latest !== undefined && this.#peer.isUsable(latest)) return Promise.resolve(latest);
    if (this.#signInFlight === undefined) {
      const started: Promise<Token> = this.#refresh(true, onPrompt).finally(() => {
        if (this.#signInFlight === started) this.#signInFlight = undefined;
      });
      this.#signInFlight = started;
    }
    return this.#signInFlight;
  }

  /** One token request: a refresh (with the newest refresh token known), or with `signIn` the provider's sign-in. */
  async #refresh(signIn = false, onPrompt?: (prompt: SignInPrompt) => void): Promise<Token> {
    this.#hooks.beforeRequest();
    // A token requested in an epoch already ended elsewhere would be dropped everywhere.
    this.#hooks.catchUp();
    // A sign-in starts a new grant: no refresh token of the earlier one is sent, refused or not.
    const refreshToken = signIn ? undefined : this.#store.refreshToken;
    if (!signIn && this.#peer.usesRefreshToken && this.#refusedRefreshToken === refreshToken) {
      throw new SessionError('login_required', 'Signed out: the refresh token was refused');
    }
    const epoch = this.#store.epoch;
    const quiet = heartbeat(() => this.#hooks.broadcast({ type: 'busy' }));
    let set: TokenSet;
    try {
      set = signIn ? await this.#peer.fetchToken(undefined, true, onPrompt) : await this.#peer.fetchToken(refreshToken);
    } catch (error) {
      if (!signIn && this.#peer.usesRefreshToken && isSessionError(error, 'invalid_grant') && this.#store.epoch === epoch) {
        // The newest refresh token known is dead: revoked, or its rotation was lost when a leader died before
        // passing on the next one. Never sent again from here; and every context is signed out, instead of each
        // trying it — after the failure has gone out to the contexts that asked (their answers run as microtasks).
        this.#refusedRefreshToken = refreshToken;
        setTimeout(() => this.#hooks.signOutEverywhere(epoch + 1), 0);
      }
      throw error;
    } finally {
      quiet();
    }
    this.#hooks.catchUp();
    if (this.#store.epoch !== epoch) throw new SessionError('aborted', 'The session was cleared');
    this.#store.take(set.token, set.refreshToken, epoch);
    if (this.#hooks.serving()) this.#hooks.broadcast(this.#store.tokenMessage(set.token));
    return set.token;
  }
}
