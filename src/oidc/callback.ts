import { SessionError, type ErrorCode } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { SignInCallbackResult } from './options.js';
import { discover, toSessionError, type Endpoint } from './protocol.js';
import { completeAuthorization, sameOriginPath, unsentExchange, withoutResponse } from './sign-in.js';
import { deleteUser, dropTransaction, OIDC_FORMAT, takeTransaction, writeUser, type UserRecord } from './storage.js';

/** A live `oidcSession` handle of the credential on this page, as its callback uses it. */
export interface CallbackHost {
  readonly session: Session;
  readonly endpoint: Endpoint;
  readonly clientId: string;
  /** Tells the page's other contexts (on the sign-in channel) who signed in, or a popup's result. */
  post(message: { type: 'signed-in'; user: UserRecord['user']; signedInAt: number } | { type: 'popup'; state: string; code?: ErrorCode }): void;
}

/** How the page's callback for one credential ended: not ours (another credential's), or signed in. */
export type CallbackOutcome =
  | { readonly kind: 'foreign' }
  | { readonly kind: 'signed-in'; readonly record: UserRecord; readonly result: SignInCallbackResult; readonly popup: boolean };

interface PageCallback {
  readonly hosts: Set<CallbackHost>;
  readonly abort: AbortController;
  outcome?: Promise<CallbackOutcome>;
}

/** The callbacks under way on this page, by credential key: one per credential, whichever handles come and go. */
const callbacks = new Map<string, PageCallback>();

/**
 * Joins the page's callback of credential `key` (starting it for the first handle): it is completed once, by whichever
 * handle is alive when it needs one. A handle that leaves hands it on; when the last one leaves (and no new one joins
 * in the same task, as React StrictMode's remount does) it is aborted. Every handle gets the same outcome.
 */
export function joinCallback(key: string, host: CallbackHost, url: URL): { outcome: Promise<CallbackOutcome>; leave(): void } {
  let callback = callbacks.get(key);
  if (callback === undefined) {
    const started: PageCallback = { hosts: new Set(), abort: new AbortController() };
    callbacks.set(key, started);
    started.outcome = runCallback(key, started, url).finally(() => {
      if (callbacks.get(key) === started) callbacks.delete(key);
    });
    callback = started;
  }
  const joined = callback;
  joined.hosts.add(host);
  return {
    outcome: joined.outcome!,
    leave() {
      if (!joined.hosts.delete(host) || joined.hosts.size > 0) return;
      // Another handle may join in this very task (create, close, create): only then is it abandoned.
      setTimeout(() => {
        if (joined.hosts.size === 0) joined.abort.abort(new SessionError('closed', 'Every session of the sign-in was closed'));
      }, 0);
    },
  };
}

/** The newest live handle, or the abort's error when none is left. */
function liveHost(callback: PageCallback): CallbackHost {
  if (callback.abort.signal.aborted) throw callback.abort.signal.reason;
  const hosts = [...callback.hosts];
  const host = hosts[hosts.length - 1];
  if (host === undefined) throw new SessionError('closed', 'Every session of the sign-in was closed');
  return host;
}

/**
 * The callback, when its `state` is ours: its transaction is taken from IndexedDB (once: a replay, a reload or a
 * second tab finds it spent), the URL cleaned (a reload must not replay it), then the code is exchanged here. A
 * popup's callback tells the opener by `state` and closes. Another credential's `state` (its transaction, or its
 * spent mark while that session completes it) is left, URL and all, to that credential's session. A `state` of no
 * transaction of this browser (forged, expired, replayed after it completed) is `invalid_state` in every session on
 * the page, and the URL is cleaned: none can consume it.
 */
async function runCallback(key: string, callback: PageCallback, url: URL): Promise<CallbackOutcome> {
  // After the joining handle is counted (this runs on from the first await).
  await Promise.resolve();
  const response = new URLSearchParams(url.search);
  const state = response.get('state') ?? '';
  let popup = false;
  let taken = false;
  let written: number | undefined;
  try {
    const clean = (): void => history.replaceState(history.state, '', withoutResponse(url).href);
    liveHost(callback);
    const transaction = await takeTransaction(state, key, Date.now()).catch((error: unknown) => {
      // Without IndexedDB no session can consume it either.
      clean();
      throw error;
    });
    if (transaction === 'foreign') return { kind: 'foreign' };
    taken = typeof transaction === 'object';
    clean();
    if (transaction === undefined || transaction === 'spent') {
      throw new SessionError('invalid_state', 'The sign-in callback matches no sign-in of this browser (reloaded, replayed or opened twice)');
    }
    popup = transaction.popup;
    const as = await discover(liveHost(callback).endpoint);
    let record: UserRecord | undefined;
    // Who signed in is stored before the token is shared: a context that gets the token (or a tab opened at that
    // moment) finds the user too. Told to the handles only once the sign-in holds (a sign-out may overtake it).
    const received = async (user: UserRecord['user'], issuedAt: number): Promise<void> => {
      const claims = { claims: user.claims, ...(user.idToken !== undefined && { idToken: user.idToken }) };
      record = { v: OIDC_FORMAT, key, user: claims, signedInAt: issuedAt };
      written = issuedAt;
      await writeUser(key, user, issuedAt).catch(() => undefined);
    };
    for (;;) {
      const host = liveHost(callback);
      try {
        await completeAuthorization(host.session, as, host.clientId, response, transaction, received);
        break;
      } catch (error) {
        // The handle closed before its code went out: the next live one sends it.
        if (unsentExchange(error) && callback.hosts.size > 0 && !callback.abort.signal.aborted) continue;
        throw error;
      }
    }
    const signedIn = record!;
    const returnTo = safeReturnTo(transaction.returnTo);
    // Told after the token went out: a context that hears it and asks for the token at once finds it there.
    liveHostOrUndefined(callback)?.post({ type: 'signed-in', user: signedIn.user, signedInAt: signedIn.signedInAt });
    if (popup) {
      popupDone(callback, state);
    } else {
      history.replaceState(history.state, '', returnTo);
    }
    const result = { returnTo, ...(transaction.appState !== undefined && { state: transaction.appState }) };
    return { kind: 'signed-in', record: signedIn, result, popup };
  } catch (error) {
    const failure = toSessionError(error, 'The sign-in could not be completed', callback.abort.signal);
    // A sign-in that did not hold (a sign-out overtook it) leaves no record of who signed in.
    if (written !== undefined) await deleteUser(key, written).catch(() => undefined);
    if (popup) popupDone(callback, state, failure.code);
    throw failure;
  } finally {
    // The spent mark told the page's other credentials whose callback this is; they have looked by now (their
    // lookups queued behind ours, in IndexedDB's order). A later replay finds nothing: invalid_state for all.
    if (taken) await dropTransaction(state).catch(() => undefined);
  }
}

function liveHostOrUndefined(callback: PageCallback): CallbackHost | undefined {
  return [...callback.hosts].pop();
}

/** The path to show: the transaction's, checked again (it was stored), else the page as the callback left it. */
function safeReturnTo(returnTo: string): string {
  const here = new URL(location.href);
  try {
    return sameOriginPath(returnTo, here);
  } catch {
    return here.pathname + here.search + here.hash;
  }
}

/** The popup's sign-in is over: tell the opener (by `state`, on the channel), and close. */
function popupDone(callback: PageCallback, state: string, code?: ErrorCode): void {
  liveHostOrUndefined(callback)?.post({ type: 'popup', state, ...(code !== undefined && { code }) });
  // After the message is out: closing at once could drop it before it is sent.
  setTimeout(() => window.close(), 50);
}
