import * as oauth from 'oauth4webapi';
import type { Clock } from '../core/clock.js';
import { Emitter } from '../core/events.js';
import { onBackForwardCache } from '../core/page-cache.js';
import { isSessionError, SessionError, type ErrorCode } from '../core/errors.js';
import type { GetTokenOptions } from '../core/options.js';
import { sharedRefreshToken, type Session } from '../core/session.js';
import type { SessionEvents } from '../core/session-core.js';
import { SessionStore, type SessionSnapshot, type SnapshotListener } from '../core/store.js';
import type { Token } from '../core/token.js';
import { createSession } from '../session/create-session.js';
import type { Sharing } from '../sharing/sharing.js';
import { openPopup, popupsSevered, waitForPopup, type PopupWindow } from './popup.js';
import { discover, requestOptions, toSessionError, type Endpoint } from './protocol.js';
import { oidcProvider, type OidcProviderOptions, type SignedInUser, type UserClaims } from './provider.js';
import { completeAuthorization, createAuthorization, isAuthorizationResponse, sameOriginPath, withoutResponse } from './sign-in.js';
import {
  deleteUser,
  dropTransaction,
  OIDC_FORMAT,
  oidcChannelName,
  parseOidcMessage,
  readUser,
  saveTransaction,
  takeTransaction,
  TRANSACTION_LIFETIME,
  writeUser,
  type OidcMessage,
  type UserRecord,
} from './storage.js';

/** What `oidcSession` takes. `issuer` and `clientId` are required; `redirectUri` too, where users sign in. */
export interface OidcSessionOptions extends OidcProviderOptions {
  /**
   * Where the provider sends the browser back, registered with the client (e.g. `https://app.example/callback`, or
   * the app's own page). The page there creates the same `oidcSession`; its `ready` completes the sign-in. Required
   * to sign in; not needed in workers.
   */
  readonly redirectUri?: string | undefined;
  /** Where the provider's logout sends the browser back (registered with the client). Default: none (the provider's page). */
  readonly postLogoutRedirectUri?: string | undefined;
  /** Extra authorization request parameters (`prompt`, `login_hint`, Keycloak's `kc_idp_hint`…). */
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
  /** Refresh this long (ms) before expiry; clamped to half the lifetime of short-lived tokens. Default 120 000. */
  readonly refreshBeforeExpiry?: number | undefined;
  /** How the token is shared between contexts. Default: the best transport for the runtime (browser sharing in browsers). */
  readonly sharing?: Sharing | undefined;
  /** Where time comes from. Default `Date.now`. */
  readonly clock?: Clock | undefined;
  /** The fetch for discovery, token, revocation requests. Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Aborting it closes the session. */
  readonly signal?: AbortSignal | undefined;
}

/** Options of `signIn`. */
export interface SignInOptions {
  /** Sign in in a popup instead of a full-page redirect. Default false. */
  readonly popup?: boolean | undefined;
  /** Same-origin path to show after the redirect back. Default: the current page (path, search and hash). */
  readonly returnTo?: string | undefined;
  /** Extra authorization request parameters for this sign-in, over the session's `authorizationParams`. */
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
}

/** Options of `signOut`. */
export interface SignOutOptions {
  /** Go to the provider's `end_session_endpoint` afterwards (RP-initiated logout), in a window. Default true. */
  readonly redirect?: boolean | undefined;
}

/** The events of an `oidcSession`: every event of a `Session`, and these. */
export interface OidcSessionEvents extends SessionEvents {
  /** Someone signed in, in this context or another: `user` holds the ID token's claims. */
  'signed-in': (user: UserClaims) => void;
  /** The sign-in ended here: `signOut()` or `clear()` in any context, or the refresh token stopped working. */
  'signed-out': () => void;
  /**
   * A refresh brought a new ID token for the signed-in user (same `sub`; e.g. a changed `name`), in any context:
   * `user` holds its claims, as `session.user` does from now on.
   */
  'user-updated': (user: UserClaims) => void;
}

type OwnEvents = Pick<OidcSessionEvents, 'signed-in' | 'signed-out' | 'user-updated'>;

/** A `Session` that signs users in: everything `createSession` gives, and the sign-in. */
export interface OidcSession extends Session {
  /**
   * Completes a sign-in whose callback is in the URL (and cleans the URL), else restores the shared sign-in. Rejects
   * with the callback's error (`invalid_state`, `access_denied`…); then the session is signed out, and usable.
   */
  readonly ready: Promise<void>;
  /** Whether a user is signed in, in this context (the same in every context, a message later). */
  readonly signedIn: boolean;
  /** The signed-in user's ID token claims (`sub`, `name`, `email`…), or undefined. */
  readonly user: UserClaims | undefined;
  /**
   * Signs the user in: a full-page redirect to the provider (the returned promise never settles: the page goes
   * away), or a popup (resolves when every context is signed in). In workers it rejects with `unsupported_context`.
   */
  signIn(options?: SignInOptions): Promise<void>;
  /**
   * Signs out every context at once, revokes the refresh token where the provider offers revocation, then goes to the
   * provider's `end_session_endpoint` (with `id_token_hint`, `client_id`, `post_logout_redirect_uri`) in a window.
   */
  signOut(options?: SignOutOptions): Promise<void>;
  on<E extends keyof OidcSessionEvents>(event: E, listener: OidcSessionEvents[E]): () => void;
  /** As `Session.subscribe`, with who signed in: `{ signedIn, user, token? }`, from any tab's sign-in or sign-out. */
  subscribe(listener: SnapshotListener<UserClaims>): () => void;
  /** As `Session.getSnapshot`: `signedIn` and `user` as the properties say, the token held now while signed in. */
  getSnapshot(): SessionSnapshot<UserClaims>;
}

/** Error codes a popup's result may carry: the ones a callback can end with. */
const POPUP_CODES = new Set<string>([
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
  'unsupported_provider',
  'unsupported_context',
]);

/**
 * Signs users in with the authorization code flow and PKCE (OpenID Connect) and shares the session with every tab,
 * worker and service worker of the origin: one sign-in, one code exchange, one refresh at a time with the refresh
 * token kept in IndexedDB (never broadcast). See the README, "Sign users in".
 *
 * @example
 * const session = oidcSession({
 *   issuer: 'https://login.example.com/realms/maps',
 *   clientId: 'web',
 *   redirectUri: `${location.origin}/`,
 *   scope: 'openid offline_access',
 * });
 * await session.ready;
 * if (!session.signedIn) await session.signIn();
 * const { accessToken } = await session.getToken();
 */
export function oidcSession(options: OidcSessionOptions): OidcSession {
  const provider = oidcProvider(options);
  const session = createSession({
    provider,
    refreshBeforeExpiry: options.refreshBeforeExpiry,
    sharing: options.sharing,
    clock: options.clock,
    fetch: options.fetch,
    signal: options.signal,
  });
  return new OidcSessionHandle(session, provider.key, provider.scope, options);
}

/** Whether this context is a window that can navigate (workers have `location` too, but no `document` or history). */
function inWindow(): boolean {
  return typeof document !== 'undefined' && typeof history !== 'undefined' && typeof window !== 'undefined';
}

const globalFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => globalThis.fetch(input, init);

class OidcSessionHandle implements OidcSession {
  readonly ready: Promise<void>;
  readonly #session: Session;
  readonly #key: string;
  readonly #scope: string;
  readonly #options: OidcSessionOptions;
  readonly #events = new Emitter<OwnEvents>();
  readonly #errors = new Emitter<Pick<SessionEvents, 'error'>>();
  #channel: BroadcastChannel | undefined;
  readonly #popupListeners = new Set<(state: string, code: string | undefined) => void>();
  readonly #unsubscribe = new Set<() => void>();
  #user: UserRecord | undefined;
  /** The read of who signed in, when the page came back from the back/forward cache. */
  #restored: Promise<void> | undefined;
  #store: SessionStore<UserClaims> | undefined;
  #closed = false;

  constructor(session: Session, key: string, scope: string, options: OidcSessionOptions) {
    this.#session = session;
    this.#key = key;
    this.#scope = scope;
    this.#options = options;
    this.#openChannel();
    for (const off of [
      // In the back/forward cache the channel is closed (a message would evict the page). Back, who signed in is read
      // again from storage; a sign-out made meanwhile reaches the session's core as `cleared`.
      onBackForwardCache(
        () => {
          this.#channel?.close();
          this.#channel = undefined;
        },
        () => {
          if (this.#closed || this.#channel !== undefined) return;
          this.#openChannel();
          // As on loading the page: who signed in, checked against the token (which waits for the session's catch-up).
          this.#restored = this.#restore();
        },
      ),
      // A sign-out anywhere (clear, signOut, a dead refresh token) reaches every core as `cleared`.
      session.on('cleared', () => this.#signedOutHere()),
      // A token while nobody is known to be signed in here: the sign-in's record was written before it was shared.
      session.on('token', (token) => {
        if (this.#user === undefined) void this.#restore(token.issuedAt);
      }),
      // The refresh token is dead everywhere: the record of who signed in goes with it.
      session.on('error', (error) => {
        if (error.code === 'invalid_grant' && this.#user !== undefined) void deleteUser(key, this.#user.signedInAt).catch(() => undefined);
      }),
    ]) {
      this.#unsubscribe.add(off);
    }
    this.ready = this.#start();
    // Awaiting it is the app's choice; an unawaited failure is reported through `error` instead of as unhandled.
    this.ready.catch(() => undefined);
  }

  get key(): string {
    return this.#session.key;
  }

  get isLeader(): boolean {
    return this.#session.isLeader;
  }

  get signedIn(): boolean {
    return this.#user !== undefined;
  }

  get user(): UserClaims | undefined {
    return this.#user?.user.claims;
  }

  async getToken(options?: GetTokenOptions): Promise<Token> {
    this.#assertOpen();
    // A callback under way ends in a sign-in (or not): answer after it.
    await this.ready.catch(() => undefined);
    await this.#restored;
    if (this.#user === undefined) throw new SessionError('login_required', 'Not signed in: call signIn()');
    try {
      return await this.#session.getToken(options);
    } catch (error) {
      if (isSessionError(error, 'login_required')) this.#signedOutHere();
      throw error;
    }
  }

  on<E extends keyof OidcSessionEvents>(event: E, listener: OidcSessionEvents[E]): () => void {
    this.#assertOpen();
    // The session's own handle keeps its listeners; ours are kept here, so that close() removes them.
    const keep = (off: () => void): (() => void) => {
      const unsubscribe = (): void => {
        off();
        this.#unsubscribe.delete(unsubscribe);
      };
      this.#unsubscribe.add(unsubscribe);
      return unsubscribe;
    };
    if (event === 'signed-in' || event === 'signed-out' || event === 'user-updated') {
      return keep(this.#events.on(event as keyof OwnEvents, listener as OwnEvents[keyof OwnEvents]));
    }
    const off = this.#session.on(event as keyof SessionEvents, listener as SessionEvents[keyof SessionEvents]);
    if (event !== 'error') return off;
    const offOwn = keep(this.#errors.on('error', listener as SessionEvents['error']));
    return () => {
      off();
      offOwn();
    };
  }

  subscribe(listener: SnapshotListener<UserClaims>): () => void {
    return this.#snapshots().subscribe(listener);
  }

  getSnapshot(): SessionSnapshot<UserClaims> {
    return this.#snapshots().getSnapshot();
  }

  /** Created on first use; a closed handle reads as signed out, and its listeners went with `close()`. */
  #snapshots(): SessionStore<UserClaims> {
    return (this.#store ??= new SessionStore<UserClaims>(
      () => {
        const user = this.#closed ? undefined : this.#user?.user.claims;
        return { signedIn: user !== undefined, user, token: user && this.#session.getSnapshot().token };
      },
      (changed) => {
        if (!this.#closed) for (const event of ['signed-in', 'signed-out', 'user-updated', 'token', 'cleared'] as const) this.on(event, changed);
      },
    ));
  }

  async clear(): Promise<void> {
    this.#assertOpen();
    await this.#session.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    this.#channel?.close();
    await this.#session.close();
  }

  async signIn(options: SignInOptions = {}): Promise<void> {
    this.#assertOpen();
    if (!inWindow()) throw new SessionError('unsupported_context', 'Sign-in needs a window: in a worker the session follows the pages');
    const { redirectUri } = this.#options;
    if (redirectUri === undefined) throw new SessionError('invalid_options', 'oidcSession needs a redirectUri to sign in');
    const popup = options.popup === true;
    const here = new URL(location.href);
    const returnTo = sameOriginPath(options.returnTo ?? here.href, here);
    // Before the first await: the click that asked for it still counts as a user gesture.
    const popupWindow = popup ? openPopup('shared-session-sign-in') : undefined;
    if (popup && popupWindow === undefined) throw new SessionError('popup_blocked', 'The browser blocked the sign-in popup');
    // Asked while discovery runs: no time added.
    const severed = popup ? popupsSevered(this.#options.fetch ?? globalFetch) : Promise.resolve(false);
    let state: string | undefined;
    try {
      const as = await discover(this.#endpoint());
      const { url, transaction } = await createAuthorization(as, {
        key: this.#key,
        clientId: this.#options.clientId,
        scope: this.#scope,
        redirectUri,
        returnTo,
        popup,
        now: Date.now(),
        parameters: { ...this.#options.authorizationParams, ...options.authorizationParams },
      });
      await saveTransaction(transaction);
      state = transaction.state;
      if (popupWindow === undefined) {
        location.assign(url.href);
        // The page is going away; nothing to resolve.
        return await new Promise<never>(() => undefined);
      }
      popupWindow.location.href = url.href;
      const started = Date.now();
      await waitForPopup(
        popupWindow,
        transaction.state,
        (listener) => {
          this.#popupListeners.add(listener);
          return () => this.#popupListeners.delete(listener);
        },
        () => this.#user !== undefined && this.#user.signedInAt >= started,
        { severed: await severed, giveUpAfter: TRANSACTION_LIFETIME },
      );
    } catch (error) {
      closePopup(popupWindow);
      // A popup closed or failed: its callback must not complete the sign-in later.
      if (state !== undefined) await dropTransaction(state).catch(() => undefined);
      throw toSessionError(error, 'The sign-in could not start', this.#options.signal);
    }
  }

  async signOut(options: SignOutOptions = {}): Promise<void> {
    this.#assertOpen();
    // The newer of the two: the stored record may hold a refresh's ID token whose message has not come yet.
    const stored = await readUser(this.#key).catch(() => undefined);
    const record = newer(this.#user, stored);
    // Read before the sign-out, which deletes it everywhere; revoked after it, when no context can send it any more.
    const refreshToken = await sharedRefreshToken(this.#session).catch(() => undefined);
    await this.#session.clear();
    if (record !== undefined) await deleteUser(this.#key, record.signedInAt).catch(() => undefined);
    let as: oauth.AuthorizationServer | undefined;
    try {
      as = await discover(this.#endpoint());
      if (refreshToken !== undefined && as.revocation_endpoint !== undefined) {
        const endpoint = this.#endpoint();
        const response = await oauth.revocationRequest(as, { client_id: this.#options.clientId }, oauth.None(), refreshToken, {
          ...requestOptions(endpoint),
          additionalParameters: { token_type_hint: 'refresh_token' },
        });
        await oauth.processRevocationResponse(response);
      }
    } catch (error) {
      // Signed out here and everywhere all the same; the app hears why the provider was not told.
      this.#report(toSessionError(error, 'The refresh token could not be revoked', this.#options.signal));
    }
    if (options.redirect === false || !inWindow() || as?.end_session_endpoint === undefined) return;
    const url = new URL(as.end_session_endpoint);
    if (record?.user.idToken !== undefined) url.searchParams.set('id_token_hint', record.user.idToken);
    url.searchParams.set('client_id', this.#options.clientId);
    const { postLogoutRedirectUri } = this.#options;
    if (postLogoutRedirectUri !== undefined) url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
    location.assign(url.href);
  }

  #endpoint(): Endpoint {
    return { issuer: this.#options.issuer, fetch: this.#options.fetch ?? globalFetch, signal: this.#options.signal };
  }

  /**
   * `ready`: the callback in the URL when it is ours, else whoever signed in before. Several sessions (other
   * credentials) on one redirect page each look at the callback; only the one whose credential has its `state`
   * consumes it (see `#callback`).
   */
  async #start(): Promise<void> {
    const { redirectUri } = this.#options;
    if (inWindow() && redirectUri !== undefined) {
      const url = new URL(location.href);
      if (isAuthorizationResponse(url, redirectUri)) {
        try {
          if (await this.#callback(url)) return;
        } catch (error) {
          // A stale callback (a reload, the back button) in a browser that is signed in stays signed in.
          await this.#restore();
          throw error;
        }
      }
    }
    await this.#restore();
  }

  /** The user of the stored sign-in, if its token still stands: from storage this costs no request. */
  async #restore(issuedBefore?: number): Promise<void> {
    const record = await readUser(this.#key).catch(() => undefined);
    if (record === undefined || this.#closed) return;
    if (issuedBefore !== undefined) {
      // Told by a token: that token is of this sign-in or a later one.
      if (record.signedInAt <= issuedBefore) this.#signedInHere(record);
      return;
    }
    try {
      await this.#session.getToken();
    } catch (error) {
      if (isSessionError(error, 'login_required')) {
        // Signed out since (the record outlived it: its context was closed first): forget it.
        await deleteUser(this.#key, record.signedInAt).catch(() => undefined);
        return;
      }
      // Signed in all the same (a network failure says nothing about the sign-in); getToken will tell the app.
    }
    this.#signedInHere(record);
    // Back from the back/forward cache: a refresh's ID token may have come while the channel was closed.
    this.#updatedHere(record);
  }

  /**
   * The callback, when its `state` is ours: its transaction is taken from IndexedDB (once: a replay, a reload or a
   * second tab finds it spent), the URL cleaned (a reload must not replay it), then the code is exchanged here. A
   * popup's callback tells the opener by `state` and closes. Another credential's `state` (its transaction, or its
   * spent mark while that session completes it) is left, URL and all, to that credential's session: false. A
   * `state` of no transaction of this browser (forged, expired, replayed after it completed) is `invalid_state` in
   * every session on the page, and the URL is cleaned: none can consume it.
   */
  async #callback(url: URL): Promise<boolean> {
    const response = new URLSearchParams(url.search);
    const state = response.get('state') ?? '';
    let popup = false;
    let taken = false;
    try {
      const clean = (): void => history.replaceState(history.state, '', withoutResponse(url).href);
      const transaction = await takeTransaction(state, this.#key, Date.now()).catch((error: unknown) => {
        // Without IndexedDB no session can consume it either.
        clean();
        throw error;
      });
      if (transaction === 'foreign') return false;
      taken = typeof transaction === 'object';
      clean();
      if (transaction === undefined || transaction === 'spent') {
        throw new SessionError('invalid_state', 'The sign-in callback matches no sign-in of this browser (reloaded, replayed or opened twice)');
      }
      popup = transaction.popup;
      const as = await discover(this.#endpoint());
      await completeAuthorization(this.#session, as, this.#options.clientId, response, transaction, (user, issuedAt) =>
        this.#received(user, issuedAt),
      );
      // Told after the token went out: a context that hears it and asks for the token at once finds it there.
      const record = this.#user;
      if (record !== undefined) this.#post({ type: 'signed-in', user: record.user, signedInAt: record.signedInAt });
      if (popup) {
        this.#popupDone(state);
        return true;
      }
      history.replaceState(history.state, '', sameOriginPath(transaction.returnTo, new URL(location.href)));
      return true;
    } catch (error) {
      const failure = toSessionError(error, 'The sign-in could not be completed', this.#options.signal);
      this.#report(failure);
      if (popup) this.#popupDone(state, failure.code);
      throw failure;
    } finally {
      // The spent mark told the page's other sessions whose callback this is; they have looked by now (their
      // lookups queued behind ours, in IndexedDB's order). A later replay finds nothing: invalid_state for all.
      if (taken) await dropTransaction(state).catch(() => undefined);
    }
  }

  /** The popup's sign-in is over: tell the opener (by `state`, on the channel), and close. */
  #popupDone(state: string, code?: ErrorCode): void {
    this.#post({ type: 'popup', state, ...(code !== undefined && { code }) });
    // After the message is out: closing at once could drop it before it is sent.
    setTimeout(() => window.close(), 50);
  }

  /**
   * The code exchange validated the ID token: who signed in is stored before the token is shared, so that a context
   * that gets the token (or a tab opened at that moment) finds the user too.
   */
  async #received(user: SignedInUser, issuedAt: number): Promise<void> {
    const claims = { claims: user.claims, ...(user.idToken !== undefined && { idToken: user.idToken }) };
    const record: UserRecord = { v: OIDC_FORMAT, key: this.#key, user: claims, signedInAt: issuedAt };
    await writeUser(this.#key, user, issuedAt).catch((error: unknown) => {
      this.#report(toSessionError(error, 'Who signed in could not be stored'));
    });
    this.#signedInHere(record);
  }

  #receive(message: OidcMessage | undefined): void {
    if (message === undefined || this.#closed) return;
    if (message.type === 'signed-in') {
      this.#signedInHere({ v: OIDC_FORMAT, key: this.#key, user: message.user, signedInAt: message.signedInAt });
    } else if (message.type === 'user') {
      const { user, signedInAt, updatedAt } = message;
      this.#updatedHere({ v: OIDC_FORMAT, key: this.#key, user, signedInAt, updatedAt });
    } else {
      const code = message.code === undefined ? undefined : POPUP_CODES.has(message.code) ? message.code : 'request_failed';
      for (const listener of [...this.#popupListeners]) listener(message.state, code);
    }
  }

  #signedInHere(record: UserRecord): void {
    if (this.#closed || (this.#user !== undefined && this.#user.signedInAt >= record.signedInAt)) return;
    this.#user = record;
    this.#events.emit('signed-in', record.user.claims);
  }

  /** A refresh's new ID token for the sign-in this context knows (never another's, never an older one). */
  #updatedHere(record: UserRecord): void {
    const current = this.#user;
    if (this.#closed || current?.signedInAt !== record.signedInAt || current.user.claims.sub !== record.user.claims.sub) return;
    if (newer(current, record) !== record) return;
    this.#user = record;
    this.#events.emit('user-updated', record.user.claims);
  }

  #signedOutHere(): void {
    if (this.#user === undefined) return;
    this.#user = undefined;
    this.#events.emit('signed-out');
  }

  #openChannel(): void {
    if (typeof BroadcastChannel !== 'function') return;
    const channel = new BroadcastChannel(oidcChannelName(this.#key));
    channel.onmessage = ({ data }: MessageEvent<unknown>) => this.#receive(parseOidcMessage(data, this.#key));
    this.#channel = channel;
  }

  #post(message: DistributiveOmit<OidcMessage, 'v' | 'key'>): void {
    this.#channel?.postMessage({ v: OIDC_FORMAT, key: this.#key, ...message });
  }

  /** Through the `error` event, beside the session's own: a failure that no call of the app may see. */
  #report(error: SessionError): void {
    this.#errors.emit('error', error);
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionError('closed', 'The session was closed');
  }
}

/** The later of two records of who signed in: a later sign-in, or the same sign-in updated later by a refresh. */
function newer(a: UserRecord | undefined, b: UserRecord | undefined): UserRecord | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  if (a.signedInAt !== b.signedInAt) return a.signedInAt > b.signedInAt ? a : b;
  return (b.updatedAt ?? 0) > (a.updatedAt ?? 0) ? b : a;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function closePopup(popup: PopupWindow | undefined): void {
  if (popup !== undefined && !popup.closed) popup.close();
}
