import type { ErrorCode } from '../core/errors.js';
import { OIDC_FORMAT, oidcChannelName, parseOidcMessage, type OidcMessage, type UserRecord } from './storage.js';

/** Error codes a popup's result may carry: the ones a callback can end with. Anything else reads as `request_failed`. */
const POPUP_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'invalid_state',
  'access_denied',
  'login_required',
  'interaction_required',
  'temporarily_unavailable',
  'invalid_response',
  'invalid_grant',
  'invalid_request',
  'unauthorized_client',
  'invalid_scope',
  'request_failed',
  'endpoint_unavailable',
  'timeout',
  'aborted',
  'closed',
  'unsupported_provider',
  'unsupported_context',
]);

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a handle hears on its credential's sign-in channel. */
export interface SignInListener {
  signedIn(record: UserRecord): void;
  updated(record: UserRecord): void;
}

/**
 * One handle's end of its credential's sign-in channel (a BroadcastChannel: never a token, a code or a verifier):
 * who signed in, a refresh's new ID token, a popup's result. Closed while the page is in the back/forward cache.
 */
export class SignInChannel {
  readonly #key: string;
  readonly #listener: SignInListener;
  readonly #popupListeners = new Set<(state: string, code: ErrorCode | undefined) => void>();
  #channel: BroadcastChannel | undefined;

  constructor(key: string, listener: SignInListener) {
    this.#key = key;
    this.#listener = listener;
    this.reopen();
  }

  get open(): boolean {
    return this.#channel !== undefined;
  }

  reopen(): void {
    if (typeof BroadcastChannel !== 'function') return;
    const channel = new BroadcastChannel(oidcChannelName(this.#key));
    channel.onmessage = ({ data }: MessageEvent<unknown>) => this.#receive(parseOidcMessage(data, this.#key));
    // In Node (a server render with a session made at module level) an open channel would keep the process alive.
    (channel as { unref?: () => void }).unref?.();
    this.#channel = channel;
  }

  close(): void {
    this.#channel?.close();
    this.#channel = undefined;
  }

  post(message: DistributiveOmit<OidcMessage, 'v' | 'key'>): void {
    this.#channel?.postMessage({ v: OIDC_FORMAT, key: this.#key, ...message });
  }

  /** Listens for popups' results (by `state`); returns how to stop. */
  onPopupResult(listener: (state: string, code: ErrorCode | undefined) => void): () => void {
    this.#popupListeners.add(listener);
    return () => this.#popupListeners.delete(listener);
  }

  #receive(message: OidcMessage | undefined): void {
    if (message === undefined) return;
    const key = this.#key;
    if (message.type === 'signed-in') {
      this.#listener.signedIn({ v: OIDC_FORMAT, key, user: message.user, signedInAt: message.signedInAt });
    } else if (message.type === 'user') {
      const { user, signedInAt, updatedAt } = message;
      this.#listener.updated({ v: OIDC_FORMAT, key, user, signedInAt, updatedAt });
    } else {
      const code = message.code === undefined ? undefined : POPUP_CODES.has(message.code) ? (message.code as ErrorCode) : 'request_failed';
      for (const listener of [...this.#popupListeners]) listener(message.state, code);
    }
  }

}
