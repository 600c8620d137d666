import type { DPoPRequest, SessionDPoP } from '../core/dpop.js';
import { Emitter } from '../core/events.js';
import { onBackForwardCache } from '../core/page-cache.js';
import { isSessionError, SessionError } from '../core/errors.js';
import type { GetTokenOptions } from '../core/options.js';
import { sharedRefreshToken, watch, type Session } from '../core/session.js';
import type { SessionEvents } from '../core/session-core.js';
import { snapshotOf, subscribeTo, type SessionSnapshot, type SnapshotListener } from '../core/store.js';
import type { Token } from '../core/token.js';
import { systemClock } from '../core/clock.js';
import { createSession } from '../session/create-session.js';
import { lazySessionDPoP } from '../session/dpop.js';
import { joinCallback, type CallbackHost } from './callback.js';
import { checkSessionOptions, type OidcSession, type OidcSessionEvents, type OidcSessionOptions, type SignInCallbackResult, type SignInOptions, type SignOutOptions } from './options.js';
import { openPopup, popupsSevered, waitForPopup, whilePopupOpen, type PopupWindow } from './popup.js';
import { signInParameters } from './parameters.js';
import { DEFAULT_TIMEOUT, discover, toSessionError, type Endpoint } from './protocol.js';
import { loadDPoP, oidcProvider } from './provider.js';
import { createAuthorization, isAuthorizationResponse, sameOriginPath } from './sign-in.js';
import { endSessionUrl, revokeRefreshToken } from './sign-out.js';
import { SignInChannel } from './sign-in-channel.js';
import { deleteUser, dropTransaction, readUser, saveTransaction, TRANSACTION_LIFETIME, type UserRecord } from './storage.js';
import type { UserClaims } from './user.js';

export type { OidcSession, OidcSessionEvents, OidcSessionOptions, SignInCallbackResult, SignInOptions, SignOutOptions } from './options.js';

type OwnEvents = Pick<OidcSessionEvents, 'signed-in' | 'signed-out' | 'user-updated'>;

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
 * session.on('signed-in', (user) => showUser(user));
 * await session.ready;
 * if (!session.signedIn) await session.signIn();
 * const { accessToken } = await session.getToken();
 */
export function oidcSession(options: OidcSessionOptions): OidcSession {
  checkSessionOptions(options);
  const provider = oidcProvider(options);
  const { refreshBeforeExpiry, sharing, clock, fetch, signal } = options;
  const session = createSession({ provider, refreshBeforeExpiry, sharing, clock, fetch, signal });
  return new OidcSessionHandle(session, provider.key, provider.scope, provider.dpop, options);
}

/** Whether this context is a window that can navigate (workers have `location` too, but no `document` or history). */
function inWindow(): boolean {
  return typeof document !== 'undefined' && typeof history !== 'undefined' && typeof window !== 'undefined';
}

const globalFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => globalThis.fetch(input, init);

class OidcSessionHandle implements OidcSession {
  readonly ready: Promise<SignInCallbackResult | void>;
  readonly #session: Session;
  readonly #key: string;
  readonly #scope: string;
  readonly #dpop: boolean;
  #sessionDPoP: SessionDPoP | undefined;
  readonly #options: OidcSessionOptions;
  readonly #events = new Emitter<OwnEvents>();
  readonly #errors = new Emitter<Pick<SessionEvents, 'error'>>();
  readonly #channel: SignInChannel;
  readonly #unsubscribe = new Set<() => void>();
  #user: UserRecord | undefined;
  /** The read of who signed in, when the page came back from the back/forward cache. */
  #restored: Promise<void> | undefined;
  /** Leaves the page's callback this handle joined (handing it on to the credential's other handles). */
  #leaveCallback: (() => void) | undefined;
  #snapshot: SessionSnapshot<UserClaims> | undefined;
  #closed = false;

  constructor(session: Session, key: string, scope: string, dpop: boolean, options: OidcSessionOptions) {
    this.#session = session;
    this.#key = key;
    this.#scope = scope;
    this.#dpop = dpop;
    this.#options = options;
    // A message is only a hint (any page of the origin can post one): who signed in is read from storage, where the
    // sender wrote it before telling.
    this.#channel = new SignInChannel(key, {
      signedIn: () => void this.#fromStorage((record) => this.#signedInHere(record)),
      updated: () => void this.#fromStorage((record) => this.#updatedHere(record)),
    });
    for (const off of [
      // In the back/forward cache the channel is closed (a message would evict the page). Back, who signed in is read
      // again from storage; a sign-out made meanwhile reaches the session's core as `cleared`.
      onBackForwardCache(
        () => this.#channel.close(),
        () => {
          if (this.#closed || this.#channel.open) return;
          this.#channel.reopen();
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

  /** With `dpop`: the origin's key, for `createClient`, `fetchWithToken` and the service worker (loaded on first use). */
  get dpop(): SessionDPoP | undefined {
    if (!this.#dpop) return undefined;
    return (this.#sessionDPoP ??= lazySessionDPoP(false, async () => (await loadDPoP()).browserSessionDPoP(this.#key)));
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
    const events = ['signed-in', 'signed-out', 'user-updated', 'token', 'cleared'] as const;
    const handle = { now: () => (this.#options.clock ?? systemClock).now(), closed: () => this.#closed };
    return subscribeTo(() => this.getSnapshot(), (changed) => watch(this, this.#closed, events, changed), listener, handle);
  }

  /** A closed handle reads as signed out; its listeners went with `close()`. */
  getSnapshot(): SessionSnapshot<UserClaims> {
    const user = this.#closed ? undefined : this.#user?.user.claims;
    const token = user && this.#session.getSnapshot().token;
    return (this.#snapshot = snapshotOf(this.#snapshot, user !== undefined, user, token));
  }

  /** Signs out every context, and deletes who signed in (as `signOut` does, without telling the provider). */
  async clear(): Promise<void> {
    this.#assertOpen();
    const record = await this.#signedInRecord();
    const key = await this.#signOutKey();
    await this.#session.clear();
    if (record !== undefined) await deleteUser(this.#key, record.signedInAt).catch(() => undefined);
    await key?.forget();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    this.#channel.close();
    this.#leaveCallback?.();
    await this.#session.close();
  }

  async signIn(options: SignInOptions = {}): Promise<void> {
    this.#assertOpen();
    if (!inWindow()) throw new SessionError('unsupported_context', 'Sign-in needs a window: in a worker the session follows the pages');
    const { redirectUri } = this.#options;
    if (redirectUri === undefined) throw new SessionError('invalid_options', 'oidcSession needs a redirectUri to sign in');
    const popup = options.popup === true;
    const here = new URL(location.href);
    // Refused before anything leaves the page.
    const returnTo = sameOriginPath(options.returnTo ?? here.href, here);
    const parameters = signInParameters(this.#options.authorizationParams, options.authorizationParams);
    // Stored with the transaction: a state IndexedDB cannot keep (a function, a DOM node) is the app's mistake.
    try {
      if (options.state !== undefined) structuredClone(options.state);
    } catch {
      throw new SessionError('invalid_options', 'signIn state must be structured-cloneable (e.g. JSON)');
    }
    // Before the first await: the click that asked for it still counts as a user gesture.
    const popupWindow = popup ? openPopup('shared-session-sign-in') : undefined;
    if (popup && popupWindow === undefined) throw new SessionError('popup_blocked', 'The browser blocked the sign-in popup');
    // Asked while discovery runs: no time added.
    const severed = popup ? popupsSevered(this.#options.fetch ?? globalFetch, this.#options.timeout ?? DEFAULT_TIMEOUT) : Promise.resolve(false);
    let state: string | undefined;
    let leaving = false;
    try {
      const prepare = async () => {
        const as = await discover(this.#endpoint());
        const authorization = await createAuthorization(as, {
          key: this.#key,
          clientId: this.#options.clientId,
          scope: this.#scope,
          redirectUri,
          returnTo,
          popup,
          now: Date.now(),
          parameters,
          appState: options.state,
        });
        // With DPoP, a new key for this sign-in, and its thumbprint binds the code to it (RFC 9449 §10).
        if (this.#dpop) authorization.url.searchParams.set('dpop_jkt', await (await loadDPoP()).signInKey(authorization.transaction.state));
        await saveTransaction(authorization.transaction);
        state = authorization.transaction.state;
        return authorization;
      };
      // A popup the user closes while the provider's metadata or storage is slow ends the sign-in at once.
      const { url, transaction } = await (popupWindow === undefined ? prepare() : whilePopupOpen(popupWindow, prepare()));
      if (popupWindow === undefined) {
        location.assign(url.href);
        // The page is going away; nothing to resolve — unless it stays (the user chose "Stay" at the app's
        // beforeunload prompt, the provider answered 204) or comes back from the back/forward cache (the Back
        // button): then signIn settles, and the transaction is kept for a callback that may still come.
        leaving = true;
        return await new Promise<never>((_resolve, reject) => {
          const stayed = (): void => reject(new SessionError('aborted', 'The page did not leave for the sign-in (navigation cancelled, or back)'));
          const timer = setTimeout(stayed, this.#options.timeout ?? DEFAULT_TIMEOUT);
          addEventListener('pagehide', () => clearTimeout(timer), { once: true });
          addEventListener('pageshow', (event) => {
            if (event.persisted) stayed();
          });
        });
      }
      popupWindow.location.href = url.href;
      const started = Date.now();
      await waitForPopup(
        popupWindow,
        transaction.state,
        (listener) => this.#channel.onPopupResult(listener),
        () => this.#user !== undefined && this.#user.signedInAt >= started,
        { severed: await severed, giveUpAfter: TRANSACTION_LIFETIME },
      );
    } catch (error) {
      closePopup(popupWindow);
      // A popup closed or failed: its callback must not complete the sign-in later.
      if (state !== undefined && !leaving) await dropTransaction(state).catch(() => undefined);
      throw toSessionError(error, 'The sign-in could not start', this.#options.signal);
    }
  }

  async signOut(options: SignOutOptions = {}): Promise<void> {
    this.#assertOpen();
    const record = await this.#signedInRecord();
    // Read before the sign-out, which deletes it everywhere; revoked after it, when no context can send it any more.
    const refreshToken = await sharedRefreshToken(this.#session).catch(() => undefined);
    const key = await this.#signOutKey();
    await this.#session.clear();
    if (record !== undefined) await deleteUser(this.#key, record.signedInAt).catch(() => undefined);
    const { clientId, postLogoutRedirectUri } = this.#options;
    let url: URL | undefined;
    try {
      const as = await revokeRefreshToken(this.#endpoint(), clientId, refreshToken, key?.signer);
      url = endSessionUrl(as, clientId, record?.user.idToken, postLogoutRedirectUri);
    } catch (error) {
      // Signed out here and everywhere all the same; the app hears why the provider was not told.
      this.#report(toSessionError(error, 'The refresh token could not be revoked', this.#options.signal));
    }
    // After the revocation, which needed it: the DPoP key goes with the sign-in.
    await key?.forget();
    if (options.redirect === false || !inWindow() || url === undefined) return;
    location.assign(url.href);
  }

  async dpopProof(request: DPoPRequest): Promise<string> {
    this.#assertOpen();
    return (await loadDPoP()).sessionProof(this.#dpop, this.#key, request, () => this.getToken());
  }

  /** With DPoP: the key's signer and its deletion, read before a sign-out. */
  async #signOutKey() {
    return this.#dpop ? (await loadDPoP()).signOutKey(true, this.#key) : undefined;
  }

  /** Who signed in, the newer of ours and the stored one (which may hold a refresh's ID token whose message is late). */
  async #signedInRecord(): Promise<UserRecord | undefined> {
    const stored = await readUser(this.#key).catch(() => undefined);
    return newer(this.#user, stored);
  }

  #endpoint(): Endpoint {
    const { issuer, fetch = globalFetch, signal, timeout } = this.#options;
    return { issuer, fetch, signal, timeout };
  }

  /**
   * `ready`: the callback in the URL when it is ours, else whoever signed in before. Every session on a redirect page
   * looks at the callback; the handles of the credential whose `state` it is complete it once, together (see
   * `joinCallback`).
   */
  async #start(): Promise<SignInCallbackResult | undefined> {
    const { redirectUri } = this.#options;
    if (inWindow() && redirectUri !== undefined) {
      const url = new URL(location.href);
      if (isAuthorizationResponse(url, redirectUri)) {
        const host: CallbackHost = {
          session: this.#session,
          endpoint: this.#endpoint(),
          clientId: this.#options.clientId,
          post: (message) => this.#channel.post(message),
        };
        const { outcome, leave } = joinCallback(this.#key, host, url);
        this.#leaveCallback = leave;
        try {
          const ended = await outcome;
          if (ended.kind === 'signed-in') {
            this.#signedInHere(ended.record);
            return ended.result;
          }
        } catch (error) {
          const failure = toSessionError(error, 'The sign-in could not be completed');
          this.#report(failure);
          // A stale callback (a reload, the back button) in a browser that is signed in stays signed in.
          await this.#restore();
          throw failure;
        } finally {
          this.#leaveCallback = undefined;
          leave();
        }
      }
    }
    await this.#restore();
    return undefined;
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

  async #fromStorage(apply: (record: UserRecord) => void): Promise<void> {
    const record = await readUser(this.#key).catch(() => undefined);
    if (record !== undefined) apply(record);
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
    // With DPoP, the key of that sign-in goes with it wherever it ended (a dead refresh token too, README: "deleted
    // at sign-out"); never the key of a later sign-in, dated by its own.
    const { signedInAt } = this.#user;
    if (this.#dpop) void loadDPoP().then((dpop) => dpop.forgetSignInKey(this.#key, signedInAt)).catch(() => undefined);
    this.#user = undefined;
    this.#events.emit('signed-out');
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

function closePopup(popup: PopupWindow | undefined): void {
  if (popup !== undefined && !popup.closed) popup.close();
}
