import type { TokenSet } from '../core/token.js';
import type { SignInPrompt } from '../core/prompt.js';
import type { SharedLink, Sharing, SharingPeer } from './sharing.js';

/**
 * Shares a token between the sessions of one JavaScript context (one tab, one worker, one server process).
 * Sessions with the same key in one context already share one core, so this transport only keeps the last token
 * set: there is nobody else to tell.
 */
export function memorySharing(): Sharing {
  return { kind: 'memory', connect: (peer) => new MemoryLink(peer) };
}

// A class, not a literal with closures: a server pool may hold 100,000 links.
class MemoryLink implements SharedLink {
  readonly leading = true;
  readonly #peer: SharingPeer;
  #current: TokenSet | undefined;

  constructor(peer: SharingPeer) {
    this.#peer = peer;
  }

  load(): Promise<TokenSet | undefined> {
    return Promise.resolve(this.#current);
  }

  async obtain(): Promise<TokenSet> {
    return (this.#current = await this.#peer.fetchToken(this.#current?.refreshToken));
  }

  /** One context: every fetch is here. A sign-in starts a new grant, so the earlier refresh token is not sent. */
  async obtainHere(onPrompt?: (prompt: SignInPrompt) => void): Promise<TokenSet> {
    return (this.#current = await this.#peer.fetchToken(undefined, true, onPrompt));
  }

  clear(): Promise<void> {
    this.#current = undefined;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#current = undefined;
    return Promise.resolve();
  }
}
