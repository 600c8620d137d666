import { boundedByClock, isExpired, isNewer, type Token, type TokenSet } from '../../core/token.js';
import type { SharingPeer } from '../sharing.js';
import type { Outgoing } from './protocol.js';

/**
 * What one context of `localSharing` knows of a credential, in memory only: the newest token, the refresh token that
 * came with it (rotating grants only), and the sign-out epoch. Sign-outs are a counter that only grows, not a
 * wall-clock time: a token belongs to the epoch it was requested in, and a sign-out kills the tokens of every
 * earlier epoch whatever the clocks say (one stepped back after a sign-out would otherwise refuse every new token
 * until it caught up).
 */
export class TokenStore {
  readonly #peer: SharingPeer;
  #epoch = 0;
  #latest: Token | undefined;
  #refreshToken: string | undefined;

  constructor(peer: SharingPeer) {
    this.#peer = peer;
  }

  /** The latest sign-out known here (0: none). */
  get epoch(): number {
    return this.#epoch;
  }

  get latest(): Token | undefined {
    return this.#latest;
  }

  /** The current token and refresh token, unless expired. */
  set(): TokenSet | undefined {
    const latest = this.#latest;
    if (latest === undefined || isExpired(latest, this.#peer.clock.now())) return undefined;
    return this.#refreshToken === undefined ? { token: latest } : { token: latest, refreshToken: this.#refreshToken };
  }

  /** The refresh token, for the messages that carry the token — only for grants that need it after a failover. */
  refreshPart(): { refreshToken?: string } {
    return this.#peer.usesRefreshToken && this.#refreshToken !== undefined ? { refreshToken: this.#refreshToken } : {};
  }

  /** The message that makes `token` current in the other contexts, with this context's epoch. */
  tokenMessage(token: Token): Extract<Outgoing, { type: 'token' }> {
    return { type: 'token', token, epoch: this.#epoch, ...this.refreshPart() };
  }

  /** The refresh token to send with the next token request, if the grant rotates one. */
  get refreshToken(): string | undefined {
    return this.#refreshToken;
  }

  /**
   * Takes a token requested in `epoch` (by this context or another) as the newest when it is: not from before a
   * sign-out known here, newer than ours. Returns whether it was, and is not expired: an expired one (answers that
   * came after their tokens' lifetime, see SessionCore.fetchToken) is kept only as a token that expired here would
   * be, for the refresh token that came with it — the grant's newest.
   */
  take(received: Token, refreshToken: string | undefined, epoch: number): boolean {
    const now = this.#peer.clock.now();
    const token = boundedByClock(received, now);
    if (epoch < this.#epoch || !isNewer(token, this.#latest)) return false;
    this.#latest = token;
    if (this.#peer.usesRefreshToken && refreshToken !== undefined) this.#refreshToken = refreshToken;
    return !isExpired(token, now);
  }

  /**
   * Moves to sign-out `epoch` when it is news; returns the token it ended (held from an earlier epoch), `true` when
   * it was news but no token was held, or false when it was not news.
   */
  signOut(epoch: number): Token | boolean {
    if (!(epoch > this.#epoch)) return false;
    this.#epoch = epoch;
    const ended = this.#latest;
    this.#latest = undefined;
    this.#refreshToken = undefined;
    return ended ?? true;
  }
}
