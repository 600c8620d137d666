import { type ErrorCode, isSessionError, SessionError } from '../../core/errors.js';
import { onBackForwardCache } from '../../core/page-cache.js';
import { boundedByClock, isExpired, isNewer, type Token, type TokenSet } from '../../core/token.js';
import { createElection, type Election } from './election.js';
import { memorySharing } from '../memory.js';
import { channelName, envelope, isFailureCode, parseMessage, type Outgoing } from './messages.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing.js';
import { recordStore, type RecordStore } from './token-store.js';

/** Options of `browserSharing`. */
export interface BrowserSharingOptions {
  /**
   * How long (ms) a context waits for the leader's answer, or for any sign that a token request is under way
   * elsewhere, before it gets the token itself — under the credential's Web Lock and after reading IndexedDB again,
   * so a slow leader does not cause a second token request. Waiting for that lock is bounded the same way.
   * Default 2 000.
   */
  readonly answerTimeout?: number | undefined;
}

/** setTimeout overflows past this. */
const MAX_TIMER = 2_147_483_647;

/** `answerTimeout` when none is given (ms). */
export const DEFAULT_ANSWER_TIMEOUT = 2_000;

/** A caller of `obtain` in a follower, waiting for the answer to its request `id`. */
interface Waiter {
  readonly id: string;
  readonly rejected: string | undefined;
  settle(outcome: TokenSet | Error): void;
}

/**
 * Shares one session between every same-origin tab, iframe and worker of a browser, per credential:
 *
 * - the leader (elected with broadcast-channel's `createLeaderElection`: Web Locks, or messages without them)
 *   refreshes ahead of expiry and answers the others' requests;
 * - every token is broadcast on one BroadcastChannel per credential and kept in one IndexedDB record, so a context
 *   opened later adopts it without a request; a sign-out is kept in that record too, so it never adopts one from
 *   before it;
 * - a token request runs under the credential's Web Lock, after reading IndexedDB again, in one context at a time.
 *
 * A page entering the back/forward cache steps out (leadership handed on, channel closed: a message would evict it),
 * and on return rejoins and reads IndexedDB again before it hands out anything.
 *
 * Missing or failing features degrade (reported as `sharing_degraded` through the session's `error` event): no
 * IndexedDB → channel and memory; no Web Locks → message election and unlocked requests; no BroadcastChannel →
 * this context alone. Service workers follow and never lead (the browser stops them when idle).
 */
export function browserSharing(options: BrowserSharingOptions = {}): Sharing {
  const { answerTimeout = DEFAULT_ANSWER_TIMEOUT } = options;
  if (!(answerTimeout >= 0 && answerTimeout <= MAX_TIMER)) {
    throw new SessionError('invalid_options', 'answerTimeout must be a number of ms from 0 to 2^31-1');
  }
  return { kind: 'browser', connect: (peer) => connect(peer, answerTimeout) };
}

function connect(peer: SharingPeer, answerTimeout: number): SharedLink {
  const report = (code: ErrorCode, message: string): void => peer.report(new SessionError(code, message));
  // Known while `createSession` runs: told a moment later, so that listeners added right after it hear it.
  const degraded = (message: string): unknown => setTimeout(report, 0, 'sharing_degraded', message);
  if (typeof BroadcastChannel !== 'function') {
    degraded('No BroadcastChannel: the token is not shared');
    return memorySharing().connect(peer);
  }
  const { key, clock } = peer;
  const name = channelName(key);
  // Both opened by `open`, again when the page comes back from the back/forward cache.
  let channel: BroadcastChannel;
  let election: Election;
  const locks = globalThis.navigator?.locks as LockManager | undefined;
  if (locks === undefined) degraded('No Web Locks: election by messages, requests unlocked');
  // Service workers follow: the browser stops them when idle, and broadcast-channel's leader hooks `self.close`,
  // which they lack.
  const mayLead = !('ServiceWorkerGlobalScope' in globalThis);
  /** How often a context working on a token request says so (`busy`), and how often waiters look at the time. */
  const beat = Math.min(1_000, Math.max(50, answerTimeout / 4));
  const connectedAt = clock.now();
  /** Names this context's requests, so that a failure answers exactly the request it is about. */
  const requestPrefix = Math.random().toString(36).slice(2, 10);
  let requests = 0;

  // Deno has no IndexedDB, by design: the token stays in memory, and a context started later asks the leader.
  let store: RecordStore | undefined = 'Deno' in globalThis ? undefined : recordStore(key, () => clock.now());
  /** Set by a failed IndexedDB operation, cleared by the next good one: one report per spell of failures. */
  let storageFailing = false;
  let leading = false;
  let closed = false;
  let channelOpen = false;
  /** The read of a page restored from the back/forward cache, until it ends (see `SharedLink.catchingUp`). */
  let catchingUp: Promise<void> | undefined;
  /** Tokens issued before this (epoch ms, the latest sign-out seen here or in storage) are dead. */
  let clearedAt = 0;
  /** The newest token seen here: fetched, read from IndexedDB or received. */
  let latest: Token | undefined;
  /** The newest refresh token: from our own requests or IndexedDB, never from the channel. */
  let refreshToken: string | undefined;
  /** The record's `rotating` as last read: the Web Lock of the context sending its refresh token, if any. */
  let rotating: string | undefined;
  /** The last read found no record (and storage worked). */
  let missing = false;
  /** Ours, for `rotating`: held by this context while it sends a refresh token and stores the answer. */
  const rotationLock = `${name}:rotation:${requestPrefix}`;
  /** Resolved when this page enters the back/forward cache (a new one on return), and when it left at. */
  let leaving!: () => void;
  let away = new Promise<void>((resolve) => (leaving = resolve));
  let leftAt = 0;
  let flight: Promise<Token> | undefined;
  /** A sign-out found in storage that the session (with a refresh token) has not been told of yet. */
  let untold = false;
  /** When another context last said it is working on a token request (`busy`). */
  let lastBusy = 0;
  /** Counts token broadcasts, to tell whether an answer went out after a request arrived. */
  let broadcasts = 0;
  const waiters = new Map<string, Waiter>();
  /** How often the session was told of a sign-out. */
  let clears = 0;
  const clearSession = (): void => {
    clears++;
    peer.receiveClear(clearedAt);
  };

  const post = (message: Outgoing): void => {
    if (channelOpen) channel.postMessage(envelope(key, message));
  };
  const closedError = (): SessionError => new SessionError('closed', 'The session was closed');
  const clearedError = (): SessionError => new SessionError('aborted', 'The session was cleared');
  const remember = (token: Token): void => {
    if (token.issuedAt >= clearedAt && isNewer(token, latest)) latest = token;
    // Issued after the sign-out: someone signed in since, so that sign-out is not for the session to be told of any
    // more. Only for a provider that signs in: for `refreshTokenGrant`, such a token can only come from a context
    // that missed the sign-out (a frozen tab waking up), and the session must still be told.
    if (peer.signsIn === true && token.issuedAt > clearedAt) untold = false;
  };
  /** Storage failed: for good when IndexedDB cannot be opened; else reported once, and tried again next time. */
  const storageFailed = (error: unknown): void => {
    if (isSessionError(error, 'sharing_degraded')) {
      if (store !== undefined) peer.report(error);
      store = undefined;
    } else if (!storageFailing) {
      storageFailing = true;
      const reason = error instanceof Error ? error.name : 'Error';
      report('sharing_degraded', `IndexedDB failed (${reason}): tried again next time`);
    }
  };
  const stored = <T>(operation: Promise<T>): Promise<T | undefined> =>
    operation.then(
      (value) => {
        storageFailing = false;
        return value;
      },
      (error: unknown) => {
        storageFailed(error);
        return undefined;
      },
    );

  /**
   * Runs `task` holding the credential's request lock, saying `busy` while it runs. Waiting for the lock is bounded:
   * when no context has said `busy` for `answerTimeout` since `since`, the holder has stopped (a frozen or blocked
   * page). Then a provider without refresh tokens runs `task` unlocked — at worst one more token request — while a
   * refresh-token one fails with `timeout`: the holder may be in the middle of a rotation, and sending the same
   * refresh token twice would get the whole family revoked. Unlocked too when Web Locks are missing or refuse us.
   */
  const locked = <T>(task: () => Promise<T>, since: number): Promise<T> => {
    const working = async (): Promise<T> => {
      post({ type: 'busy' });
      const busy = setInterval(post, beat, { type: 'busy' });
      try {
        return await task();
      } finally {
        clearInterval(busy);
      }
    };
    if (locks === undefined) return working();
    let work: Promise<T> | undefined;
    const stop = new AbortController();
    const watchdog = setInterval(() => {
      if (clock.now() - Math.max(since, lastBusy) >= answerTimeout) stop.abort();
    }, beat);
    return locks
      .request(`${name}:request`, { signal: stop.signal }, () => {
        clearInterval(watchdog);
        work = working();
        // Held until the work ends, or until this page enters the back/forward cache: the context that asks for the
        // lock next would get the page evicted (`WebLocksContention`), and with it the answer it is waiting for. The
        // work goes on in the cached page; a refresh token it is sending is `rotating` in the record meanwhile.
        return Promise.race([work.catch(() => undefined), away]);
      })
      .then(
        () => work!,
        () => {
          if (work !== undefined) return work;
          if (stop.signal.aborted && peer.usesRefreshToken) {
            throw new SessionError('timeout', 'The context refreshing the token stopped responding; not sending its refresh token again');
          }
          return working();
        },
      )
      .finally(() => clearInterval(watchdog));
  };

  /**
   * A sign-out found in storage (or by a refused write) that no message told us of: this context opened after it,
   * or missed the message. A session with a refresh token is signed out by it, always: the refresh token it was
   * created with predates the sign-out (it is told when it next asks, see `tell`). Another is signed out when it may
   * hold something from before it; one opened after it only ignores what was issued before it.
   */
  const learnSignOut = (at: number): void => {
    if (at <= clearedAt) return;
    if (peer.usesRefreshToken) {
      forget(at);
      untold = true;
    } else if (at > connectedAt || (latest !== undefined && latest.issuedAt < at)) {
      forget(at);
      clearSession();
    } else {
      clearedAt = at;
    }
  };
  /**
   * Tells the session of a sign-out `learnSignOut` found, before it asks for a token: signed out, it refuses every
   * token request itself (`login_required`; `cleared` tells, no `error` event), and asking it is how that refusal
   * reaches the caller — nothing is sent. Told here rather than during the read, which the session may be awaiting
   * (a sign-out then would end that call as `aborted`).
   */
  const tell = async (): Promise<void> => {
    if (!untold) return;
    if (closed) throw closedError();
    untold = false;
    clearSession();
    await peer.fetchToken();
  };

  /** Reads the record into `latest` and `refreshToken`. Reads run one at a time (one delete and report if corrupt). */
  let reading: Promise<void> | undefined;
  const read = async (): Promise<void> => {
    const record = store && (await stored(store.read()));
    missing = record === undefined && store !== undefined && !storageFailing;
    rotating = typeof record === 'object' ? record.rotating : undefined;
    if (record === 'corrupt') {
      report('corrupt_storage', 'Deleted a corrupt token record');
    } else if (record !== undefined) {
      if (record.repaired === true) report('corrupt_storage', 'Expired a stored token issued in the future; kept its refresh token');
      learnSignOut(record.clearedAt ?? 0);
      if (record.token !== undefined && record.token.issuedAt >= clearedAt) {
        // Written under the lock by the last context that fetched: the newest refresh token there is — unless this
        // context fetched a newer token whose write failed (a full disk): the record's refresh token is spent then.
        const newest = latest === undefined || !isNewer(latest, record.token);
        remember(record.token);
        if (newest) refreshToken = record.refreshToken ?? refreshToken;
      }
    }
  };
  /** The newest token known here, after reading the record: joining a read under way, or after it when `fresh`. */
  const load = async (fresh = false): Promise<TokenSet | undefined> => {
    if (fresh || reading === undefined) {
      const queued: Promise<void> = Promise.resolve(reading)
        .then(read)
        .finally(() => {
          if (reading === queued) reading = undefined;
        });
      reading = queued;
    }
    await reading;
    return latest && (refreshToken === undefined ? { token: latest } : { token: latest, refreshToken });
  };

  /** Sign-out at `at`: told to every context now, and kept in the record for the ones opened later. */
  const signOut = async (at: number): Promise<void> => {
    forget(at);
    post({ type: 'clear', at });
    if (store !== undefined) await stored(store.signOut(at));
  };

  /** Under the lock: read storage again (another context may have just fetched), and only then fetch. */
  const refresh = async (rejected: string | undefined): Promise<Token> => {
    const current = await load(true);
    if (current !== undefined && peer.isUsable(current.token, rejected)) return current.token;
    if (closed) throw closedError();
    // A follower fetches only for callers still waiting: the leader's answer or failure may have come meanwhile.
    if (!leading && waiters.size === 0) throw new SessionError('aborted', 'The token is no longer needed');
    await tell();
    const records = peer.usesRefreshToken && locks !== undefined ? store : undefined;
    if (records !== undefined) {
      // Another context is sending the record's refresh token (its `rotating`): never sent here too. While that
      // context holds its lock, wait for it, bounded; once it has ended without storing the answer (a crash, an
      // eviction, a 2xx answer it refused), that refresh token is spent and the next one lost: every context is
      // signed out, and nothing is sent. Measured: Chromium evicts a cached page holding a lock as soon as another
      // context queries the locks (or asks for that one, even `ifAvailable`), so a page that entered the cache
      // during its rotation is evicted by this check, and its rotation is lost.
      for (const until = clock.now() + answerTimeout; rotating !== undefined && rotating !== rotationLock; ) {
        const lock = rotating;
        // Looking at its lock would evict that context if its page is in the back/forward cache, and lose its rotation.
        // Not for a refresh ahead of expiry: while the token known here is still valid and not `rejected`, the session
        // keeps handing it out and asks again later (by then that page may be back, and its answer stored).
        if (latest !== undefined && !isExpired(latest, clock.now()) && latest.accessToken !== rejected) {
          throw new SessionError('timeout', 'Another context is rotating the refresh token: the current token stays in use meanwhile');
        }
        const { held = [] } = await locks!.query();
        if (!held.some((entry) => entry.name === lock)) {
          await load(true); // it may have stored the answer just before it let go
          if (rotating === lock) {
            grantLost(clearedAt);
            throw new SessionError('login_required', 'A refresh token rotation was lost (the context sending it stopped): signed out');
          }
        } else if (clock.now() >= until) {
          throw new SessionError('timeout', 'Another context is rotating the refresh token and is not running (back/forward cache): not sending it');
        } else {
          await new Promise((resolve) => setTimeout(resolve, beat));
          await load(true);
        }
        if (latest !== undefined && peer.isUsable(latest, rejected)) return latest;
      }
    }
    const signedOut = clearedAt;
    const send = async (): Promise<Token> => {
      // The session refuses here while signed out or inside a failure's `retryAfter` (it remembers those).
      const set = await peer.fetchToken(refreshToken).catch((error: unknown) => {
        // The newest refresh token known is dead (revoked, or spent by a rotation whose answer was lost): every
        // context is signed out, instead of each trying it again.
        if (peer.usesRefreshToken && isSessionError(error, 'invalid_grant')) grantLost(signedOut);
        throw error;
      });
      return share(set, signedOut);
    };
    if (records === undefined) return send();
    // Recorded before the request leaves, under a lock that ends with this context: see the loop above.
    return await locks!.request(rotationLock, async () => {
      // This page may have been frozen (back/forward cache) since it read the record: another context may have
      // started or finished a rotation meanwhile. Never over its marker; and the refresh token sent is the record's.
      if ((await stored(records.rotating(rotationLock))) === false) {
        throw new SessionError('timeout', 'Another context started rotating the refresh token meanwhile: not sending it');
      }
      await load(true);
      if (clearedAt !== signedOut) throw clearedError();
      if (latest !== undefined && peer.isUsable(latest, rejected)) {
        await stored(records.rotating(rotationLock, true));
        return latest;
      }
      return send().catch(async (error: unknown) => {
        // Spent only if the endpoint answered 2xx (an answer refused after it, see the providers): else this
        // context may send it again, and so may the others.
        const status = isSessionError(error) ? (error.status ?? 0) : 0;
        if (status < 200 || status > 299) await stored(records.rotating(rotationLock, true));
        throw error;
      });
    });
  };

  /**
   * The newest refresh token is dead: every context is signed out, once, instead of each trying it again. After the
   * failure has gone out to the contexts that asked (their answers run as microtasks), and only if no sign-out came
   * since `signedOut`.
   */
  const grantLost = (signedOut: number): void => {
    setTimeout(() => {
      if (clearedAt !== signedOut) return;
      // This context drops its token as the message goes out, not after the record is written: the other contexts
      // drop theirs on the message, and this one must not hand out its token in between.
      void signOut(clock.now());
      clearSession();
    }, 0);
  };

  /**
   * A sign-in, under the lock: the provider's fetch runs here with no refresh token (a new grant), whoever leads.
   * The sign-out the session made just before is in the record already; read it, so the write is not refused.
   */
  const signIn = async (): Promise<Token> => {
    await load(true);
    if (closed) throw closedError();
    // The sign-in supersedes every sign-out known so far: the session lifted its own `login_required`.
    untold = false;
    const signedOut = clearedAt;
    return share(await peer.fetchToken(undefined, true), signedOut);
  };

  /** Shares a token set this context fetched: broadcast (without its refresh token) and stored, under the lock. */
  const share = async (set: TokenSet, signedOut: number): Promise<Token> => {
    // A sign-out came while the request was in flight: its token is dead, here and everywhere.
    if (clearedAt !== signedOut) throw clearedError();
    remember(set.token);
    if (peer.usesRefreshToken) refreshToken = set.refreshToken ?? refreshToken;
    // Expired on arrival (late answers, see SessionCore.fetchToken): stored for its refresh token, told to nobody.
    if (!isExpired(set.token, clock.now())) {
      broadcasts++;
      post({ type: 'token', token: set.token });
    }
    if (store !== undefined) {
      const found = await stored(store.write(set.token, peer.usesRefreshToken ? refreshToken : undefined, signedOut));
      // The record holds a sign-out whose message has not reached us yet: the write was refused.
      learnSignOut(found ?? 0);
      await tell();
      if (clearedAt !== signedOut) throw clearedError();
    }
    return set.token;
  };

  /** A usable token from memory, or from one locked refresh shared by every caller in this context. */
  const fetchShared = async (rejected: string | undefined, since = clock.now()): Promise<Token> => {
    if (catchingUp !== undefined) await catchingUp;
    for (let round = 0; ; round++) {
      if (latest !== undefined && peer.isUsable(latest, rejected)) return latest;
      if (closed) throw closedError();
      if (flight === undefined) {
        const started: Promise<Token> = locked(() => refresh(rejected), since).finally(() => {
          if (flight === started) flight = undefined;
        });
        flight = started;
      }
      const token = await flight;
      // A flight started for another caller may bring back the token this one rejected: fly once more. Not for an
      // expired one: its answers came late, as they would again (the session fails the call, the grant is kept).
      if (round > 0 || peer.isUsable(token, rejected) || isExpired(token, clock.now())) return token;
    }
  };

  /** Gets the token in this context (as leader, or after nobody answered) for a waiting caller. */
  const serve = (waiter: Waiter, since?: number): void => {
    if (!waiters.has(waiter.id)) return;
    fetchShared(waiter.rejected, since).then(
      (token) => waiter.settle({ token }),
      (error: unknown) => waiter.settle(error as Error),
    );
  };

  const ask = (rejected: string | undefined): Promise<TokenSet> =>
    new Promise((resolve, reject) => {
      const asked = clock.now();
      const waiter: Waiter = {
        id: `${requestPrefix}-${++requests}`,
        rejected,
        settle(outcome) {
          if (!waiters.delete(waiter.id)) return;
          clearTimeout(timer);
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      waiters.set(waiter.id, waiter);
      post({ type: 'request', id: waiter.id, rejected });
      // No answer, and nobody working on a request for `answerTimeout` (a frozen leader, a lost message): get it
      // here, under the lock, after reading storage.
      const check = (): void => {
        const since = Math.max(asked, lastBusy);
        const quiet = clock.now() - since;
        if (quiet >= answerTimeout) serve(waiter, since);
        else timer = setTimeout(check, answerTimeout - quiet);
      };
      let timer = setTimeout(check, answerTimeout);
      if (!mayLead) {
        election.elector.hasLeader().then(
          (hasLeader) => hasLeader || serve(waiter),
          () => serve(waiter),
        );
      }
    });

  /** The leader answers request `id` with its token, fetching it first when it has none usable. */
  const answer = (id: string, rejected: string | undefined): void => {
    const before = broadcasts;
    fetchShared(rejected).then(
      (token) => {
        if (isExpired(token, clock.now())) post({ type: 'failed', id, code: 'token_expired' });
        // A broadcast after the request arrived reached the asker; an older one may have preceded its channel.
        else if (broadcasts === before) post({ type: 'token', token });
      },
      (error: unknown) => {
        const code = isSessionError(error) ? error.code : 'request_failed';
        const retryAfter = isSessionError(error) ? error.retryAfter : undefined;
        if (isFailureCode(code)) post({ type: 'failed', id, code, ...(retryAfter !== undefined && { retryAfter }) });
      },
    );
  };

  /** Sign-out at `at`, here or elsewhere: forget every token issued before it and stop waiting for one. */
  const forget = (at: number): void => {
    // Clamped to our clock: a forged or skewed timestamp must not kill every future token.
    clearedAt = Math.max(clearedAt, Math.min(at, clock.now()));
    latest = undefined;
    refreshToken = undefined;
    // A request in flight was made before the sign-out: whoever asks from now on waits for a new one.
    flight = undefined;
    for (const waiter of waiters.values()) waiter.settle(clearedError());
  };

  const receive = (token: Token): void => {
    const bounded = boundedByClock(token, clock.now());
    if (bounded.issuedAt < clearedAt) return; // requested before a sign-out that reached us first
    remember(bounded);
    if (!peer.receiveToken(bounded)) report('invalid_message', 'Ignored a stale token');
    for (const waiter of waiters.values()) if (peer.isUsable(bounded, waiter.rejected)) waiter.settle({ token: bounded });
  };

  const onMessage = ({ data }: MessageEvent<unknown>): void => {
    const message = parseMessage(data);
    if (message === undefined || message.key !== key) {
      report('invalid_message', 'Ignored a malformed or foreign message');
      return;
    }
    switch (message.type) {
      case 'token':
        return receive(message.token);
      case 'request':
        if (leading) answer(message.id, message.rejected);
        return;
      case 'failed': {
        // Only the answer to one of our own requests: the others are another context's (or nobody's).
        const waiter = waiters.get(message.id);
        if (waiter === undefined) return;
        // With its `retryAfter`, which the session then remembers until it passes.
        const { code, retryAfter } = message;
        return waiter.settle(new SessionError(code, `The leader could not get a token (${code})`, { retryAfter }));
      }
      case 'busy':
        lastBusy = clock.now();
        return;
      case 'clear':
        forget(message.at);
        return clearSession();
      case 'leader':
        for (const waiter of waiters.values()) post({ type: 'request', id: waiter.id, rejected: waiter.rejected });
        return;
      case 'election':
        return election.deliver(message.data);
    }
  };

  /** Joins the credential's channel and its election (a new elector each time: a dead one cannot lead again). */
  const open = (): void => {
    channel = new BroadcastChannel(name);
    channel.onmessage = onMessage;
    channel.onmessageerror = () => report('invalid_message', 'Ignored an unreadable message');
    channelOpen = true;
    const current = (election = createElection(name, (data) => post({ type: 'election', data })));
    if (!mayLead) return;
    current.elector.awaitLeadership().then(
      () => {
        if (closed || election !== current) return;
        leading = true;
        post({ type: 'leader' });
        peer.leadershipChanged(true);
        for (const waiter of waiters.values()) serve(waiter);
        // A context that never needed a token yet learns the stored one, so that it refreshes it ahead of expiry.
        void load().then((set) => set && peer.receiveToken(set.token));
      },
      () => {
        if (!closed && election === current) report('sharing_degraded', 'Cannot join the leader election');
      },
    );
  };
  /** Releases the Web Lock (the next context takes over at once), leaves the message election, closes the channel. */
  const shut = async (): Promise<void> => {
    if (!channelOpen) return;
    // The message election says `death` as die() starts: before the channel closes.
    const died = election.elector.die();
    channelOpen = false;
    channel.close();
    await died;
  };
  open();

  // In the back/forward cache the page is frozen: callers waiting for a token here just resume on return, and are
  // asked for again then. Meanwhile the others go on without it, and it may miss a refresh, a rotation or a sign-out.
  const stopListening = onBackForwardCache(
    () => {
      if (closed) return;
      leftAt = clock.now();
      leaving();
      const wasLeading = leading;
      leading = false;
      void shut();
      if (wasLeading) peer.leadershipChanged(false);
    },
    () => {
      if (closed || channelOpen) return;
      away = new Promise<void>((resolve) => (leaving = resolve));
      open();
      // Nothing is handed out before this read: a sign-out missed while cached drops what the session holds (a
      // refresh-token session is signed out: `login_required`; a sign-in since then lifts it), and a rotated refresh
      // token is taken from the record. Told here, once, unless the read or a message told the session already.
      const signedOut = clearedAt;
      const told = clears;
      const held = latest;
      const caughtUp: Promise<void> = load(true)
        .then(() => {
          // It held a token and the record is gone: deleted while this page was cached ("wipe local data", with a
          // sign-out that the closed channel missed). A page whose connection had closed on an earlier
          // `versionchange` is not evicted by that deletion: what it held counts as signed out when it left.
          if (held !== undefined && missing) learnSignOut(leftAt);
          // The session's own token too, not only ours: a token replaced while cached (a 401) is not handed out.
          if (latest !== undefined) peer.receiveToken(latest);
          if (clearedAt > signedOut && clears === told) {
            untold = false;
            clearSession();
          }
          for (const waiter of waiters.values()) {
            if (latest !== undefined && peer.isUsable(latest, waiter.rejected)) waiter.settle({ token: latest });
            else post({ type: 'request', id: waiter.id, rejected: waiter.rejected });
          }
        })
        .finally(() => {
          if (catchingUp === caughtUp) catchingUp = undefined;
        });
      catchingUp = caughtUp;
    },
  );

  return {
    get leading() {
      return leading;
    },
    get catchingUp() {
      return catchingUp;
    },
    load: () => load(),
    async obtain(rejected) {
      if (closed) throw closedError();
      if (catchingUp !== undefined) await catchingUp;
      await tell();
      return leading ? { token: await fetchShared(rejected) } : ask(rejected);
    },
    async obtainHere() {
      if (closed) throw closedError();
      // Not the shared flight of `fetchShared`: a refresh under way there is of the grant the sign-in ends.
      return { token: await locked(signIn, clock.now()) };
    },
    clear: () => signOut(clock.now()),
    async close() {
      if (closed) return;
      closed = true;
      leading = false;
      stopListening();
      for (const waiter of waiters.values()) waiter.settle(closedError());
      await shut();
    },
  };
}
