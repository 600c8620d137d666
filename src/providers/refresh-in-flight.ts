import { hashKey } from '../core/digest.js';
import { abortError, SessionError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';

/**
 * A refresh token that left without an answer may be spent: the server may have rotated it and its answer be late or
 * lost. Sending it again would be a reuse (servers with reuse detection revoke the whole grant). So the request that
 * carries a refresh token is never abandoned at an attempt timeout: it runs until it is answered or its late-answer
 * window closes, and every request for the same token in this process (a retry, a later `getToken`, another session
 * of the same credential) joins it instead of sending the token again.
 *
 * What becomes of it:
 * - answered (any status): the answer is read and handed to every caller that joined; a 2xx spent the token (the
 *   rotation is recorded by `listener` before anyone reads it), anything else leaves it to be sent again.
 * - failed with no connection made (refused, DNS, offline): sent again is fine.
 * - lost (the window closed, or the connection broke once made): maybe spent, so never sent again;
 *   the caller gets `invalid_grant`, which ends the grant (signed out) in every context that shares it.
 */
export type RefreshOutcome =
  | { readonly kind: 'answered'; readonly status: number; readonly headers: Headers; readonly text: string }
  | { readonly kind: 'unsent'; readonly error: unknown }
  | { readonly kind: 'lost'; readonly error: unknown };

/** What the request's owner learns, once, whoever is waiting for it (maybe nobody: the callers gave up). */
export interface RefreshListener {
  /** A status arrived (before its body): a 2xx spent the refresh token, whatever the body turns out to be. */
  status(status: number): void;
  /** The request is over; `sentAt` is the clock's time when it left (the token's lifetime counts from there). */
  settled(outcome: RefreshOutcome, sentAt: number): void;
}

/** Default `lateAnswerWindow` (ms): how long a refresh request that left is waited on for its answer. */
export const LATE_ANSWER_WINDOW = 60_000;
/**
 * A window timer that fires this much later than due (the process was stopped, SIGSTOP, or its event loop blocked)
 * gets one more short wait: an answer that arrived meanwhile sits in the socket, and timers run before I/O is read.
 */
export const STOPPED_GRACE = 1_000;

interface Flight {
  readonly outcome: Promise<RefreshOutcome>;
}

/** The requests in flight in this process, by credential key and refresh token digest. */
const flights = new Map<string, Flight>();

export interface RefreshSender {
  /** A fetch that sends the refresh token at most once while a request with it is in flight, and joins that one. */
  readonly fetch: typeof globalThis.fetch;
  /** True once a request of this sender was answered with a 2xx (the refresh token is spent). */
  readonly answeredOk: boolean;
}

export interface RefreshSenderSettings {
  readonly key: string;
  readonly refreshToken: string;
  readonly fetch: typeof globalThis.fetch;
  readonly clock: Clock;
  /** The session's signal: a caller that leaves stops waiting; the request itself runs on until its window closes. */
  readonly signal: AbortSignal;
  readonly window: number;
  /** True when the refresh token is known to be spent: then nothing is sent. */
  readonly isSpent: () => boolean;
  readonly listener: RefreshListener;
}

/**
 * The fetch a refresh-token request is sent with. Each call is an attempt of the retry chain: the first sends, the
 * next ones join the request in flight (its attempt timeout does not end it: only the window does) and take its
 * outcome; after an answer that did not spend the token, or a failure that proves nothing was sent, a call sends
 * anew.
 */
export function refreshSender(settings: RefreshSenderSettings): RefreshSender {
  const id = `${settings.key}\n${hashKey(settings.refreshToken)}`;
  let joined: Flight | undefined;
  let answeredOk = false;
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    let flight = joined ?? flights.get(id);
    if (flight === undefined) {
      if (settings.isSpent()) throw spentError();
      flight = send(id, input, init, settings);
    }
    joined = flight;
    // Only the session's signal ends the wait: the attempt's own timeout must not abandon a request that left.
    const outcome = await untilAborted(flight.outcome, settings.signal);
    if (outcome.kind === 'lost') throw lostError(outcome.error);
    joined = undefined;
    if (outcome.kind === 'unsent') throw outcome.error;
    if (outcome.status >= 200 && outcome.status <= 299) answeredOk = true;
    return new Response(outcome.text, { status: outcome.status, headers: outcome.headers });
  };
  return {
    fetch,
    get answeredOk() {
      return answeredOk;
    },
  };
}

function send(id: string, input: RequestInfo | URL, init: RequestInit | undefined, settings: RefreshSenderSettings): Flight {
  const { clock, listener, window } = settings;
  const sentAt = clock.now();
  const stop = new AbortController();
  const due = clock.now() + window;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (ms: number, last: boolean): void => {
    timer = setTimeout(() => {
      // Fired late by a stop: let the socket be read once before deciding that no answer came.
      if (!last && clock.now() - due > STOPPED_GRACE) arm(STOPPED_GRACE, true);
      else stop.abort(new SessionError('timeout', `No answer to the refresh request within ${window} ms`));
    }, ms);
    (timer as { unref?: () => void }).unref?.();
  };
  arm(window, false);
  const run = async (): Promise<RefreshOutcome> => {
    let response: Response;
    try {
      // Raced too: a fetch that does not listen to its signal (an app's own) ends with the window all the same.
      response = await untilAborted(settings.fetch(input, { ...init, signal: stop.signal }), stop.signal);
    } catch (error) {
      if (stop.signal.aborted) return { kind: 'lost', error: stop.signal.reason };
      return mayHaveArrived(error) ? { kind: 'lost', error } : { kind: 'unsent', error };
    }
    listener.status(response.status);
    try {
      return { kind: 'answered', status: response.status, headers: response.headers, text: await untilAborted(response.text(), stop.signal) };
    } catch (error) {
      // The answer broke off (or the window closed) while its body was coming: it was sent, and maybe served.
      return { kind: 'lost', error: stop.signal.aborted ? stop.signal.reason : error };
    }
  };
  const outcome = run().then((result) => {
    clearTimeout(timer);
    if (flights.get(id) === flight) flights.delete(id);
    listener.settled(result, sentAt);
    return result;
  });
  const flight: Flight = { outcome };
  flights.set(id, flight);
  return flight;
}

/**
 * Whether a failed fetch may have reached the server: the connection was made and broke (reset, closed by the other
 * side, a broken pipe), or something that is not HTTP came back — the request may have gone out and been served. A failure without that evidence (refused, no
 * route, DNS, TLS, the browser offline) left nothing. A browser's own `TypeError` says nothing either way: it is
 * taken as not sent, so that an unreachable provider does not sign users out (a timeout, the case that happens, is
 * never taken so).
 */
export function mayHaveArrived(error: unknown): boolean {
  for (let cause = error, depth = 0; (cause instanceof Error || cause instanceof DOMException) && depth < 5; cause = cause.cause, depth++) {
    // Not our window (that is told apart before): the app's own fetch gave up on a request that may have left.
    if (cause.name === 'AbortError' || cause.name === 'TimeoutError') return true;
    const { code } = cause as { code?: unknown };
    if (typeof code === 'string' && BROKEN_AFTER_CONNECT.test(code)) return true;
    // Deno names the failure in its message only.
    if (/connection reset|connection closed before message completed|broken pipe|incomplete message|invalid HTTP .* parsed|message head is too large/i.test(cause.message)) return true;
  }
  return false;
}

/**
 * Node and undici codes of a connection that was made and then broke (the request may have left on it), or that
 * carried an answer which is not HTTP (`HPE_*`: the server, or a proxy, read the request and wrote something).
 */
const BROKEN_AFTER_CONNECT = /^(ECONNRESET|EPIPE|ECONNABORTED|UND_ERR_SOCKET|UND_ERR_CLOSED|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|UND_ERR_HEADERS_OVERFLOW|UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|HPE_[A-Z_]+)$/;

function spentError(): SessionError {
  return new SessionError('invalid_grant', 'The refresh token was already used and no newer one is known');
}

function lostError(cause: unknown): SessionError {
  return new SessionError(
    'invalid_grant',
    'The refresh request was sent and its answer was lost (no answer within the late-answer window, or the connection broke): the refresh token may be spent, and is never sent twice: signed out',
    { cause },
  );
}

/** `promise`, or the abort error of `signal` as soon as it aborts; `promise` goes on either way. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
