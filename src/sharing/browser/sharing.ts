import { type ErrorCode, isSessionError, SessionError } from '../../core/errors.js';
import { isNewer, type Token, type TokenSet } from '../../core/token.js';
import { createElection } from './election.js';
import { memorySharing } from '../memory.js';
import { channelName, envelope, isFailureCode, parseMessage, type Outgoing } from './messages.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing.js';
import { recordStore, type RecordStore } from './token-store.js';

/** Options of `browserSharing`. */
export interface BrowserSharingOptions {
  /**
   * How long (ms) a context waits for the leader's answer before it gets the token itself — under the credential's
   * Web Lock and after reading IndexedDB again, so a slow leader does not cause a second token request.
   * Default 2 000.
   */
  readonly answerTimeout?: number | undefined;
}

/** A caller of `obtain` in a follower, waiting for the leader's broadcast. */
interface Waiter {
  readonly rejected: string | undefined;
  settle(outcome: TokenSet | Error): void;
}

/**
 * Shares one session between every same-origin tab, iframe and worker of a browser, per credential:
 *
 * - the leader (elected with broadcast-channel's `createLeaderElection`: Web Locks, or messages without them)
 *   refreshes ahead of expiry and answers the others' requests;
 * - every token is broadcast on one BroadcastChannel per credential and kept in one IndexedDB record, so a context
 *   opened later adopts it without a request;
 * - a token request runs under the credential's Web Lock, after reading IndexedDB again, in one context at a time.
 *
 * Missing or failing features degrade (reported as `sharing_degraded` through the session's `error` event): no
 * IndexedDB → channel and memory; no Web Locks → message election and unlocked requests; no BroadcastChannel →
 * this context alone. Service workers follow and never lead (the browser stops them when idle).
 */
export function browserSharing(options: BrowserSharingOptions = {}): Sharing {
  const { answerTimeout = 2_000 } = options;
  if (!(answerTimeout >= 0 && answerTimeout < Infinity)) {
    throw new SessionError('invalid_options', 'answerTimeout must be a finite number of ms >= 0');
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
  const { key } = peer;
  const name = channelName(key);
  const channel = new BroadcastChannel(name);
  const locks = globalThis.navigator?.locks as LockManager | undefined;
  if (locks === undefined) degraded('No Web Locks: election by messages, requests unlocked');
  // Service workers follow: the browser stops them when idle, and broadcast-channel's leader hooks `self.close`,
  // which they lack.
  const mayLead = !('ServiceWorkerGlobalScope' in globalThis);

  // Deno has no IndexedDB, by design: the token stays in memory, and a context started later asks the leader.
  let store: RecordStore | undefined = 'Deno' in globalThis ? undefined : recordStore(key);
  let leading = false;
  let closed = false;
  let channelOpen = true;
  /** Tokens issued before this (epoch ms, the latest sign-out seen) are dead. */
  let clearedAt = 0;
  /** The newest token seen here: fetched, read from IndexedDB or received. */
  let latest: Token | undefined;
  /** The newest refresh token: from our own requests or IndexedDB, never from the channel. */
  let refreshToken: string | undefined;
  let flight: Promise<Token> | undefined;
  /** Counts token broadcasts, to tell whether an answer went out after a request arrived. */
  let broadcasts = 0;
  const waiters = new Set<Waiter>();

  const post = (message: Outgoing): void => {
    if (channelOpen) channel.postMessage(envelope(key, message));
  };
  const closedError = (): SessionError => new SessionError('closed', 'The session was closed');
  const remember = (token: Token): void => {
    if (token.issuedAt >= clearedAt && isNewer(token, latest)) latest = token;
  };
  const lostStorage = (): void => {
    if (store === undefined) return;
    store = undefined;
    report('sharing_degraded', 'No IndexedDB: the token is shared by channel only');
  };

  const { elector, deliver } = createElection(name, (data) => post({ type: 'election', data }));

  /** Runs `task` holding the credential's Web Lock; unlocked when Web Locks are missing or refuse this context. */
  const locked = <T>(task: () => Promise<T>): Promise<T> => {
    if (locks === undefined) return task();
    let started = false;
    return (
      locks.request(`${name}:request`, () => {
        started = true;
        return task();
      }) as Promise<T>
    ).catch((error: unknown) => {
        if (started) throw error;
        return task();
      });
  };

  /** Reads the record into `latest` and `refreshToken`. Reads run one at a time (one delete and report if corrupt). */
  let reading: Promise<void> | undefined;
  const read = async (): Promise<void> => {
    try {
      const record = await store?.read();
      if (record === 'corrupt') {
        report('corrupt_storage', 'Deleted a corrupt token record');
      } else if (record !== undefined && record.token.issuedAt >= clearedAt) {
        remember(record.token);
        // Written under the lock by the last context that fetched: the newest refresh token there is.
        refreshToken = record.refreshToken ?? refreshToken;
      }
    } catch {
      lostStorage();
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

  /** Under the lock: read storage again (another context may have just fetched), and only then fetch. */
  const refresh = async (rejected: string | undefined): Promise<Token> => {
    const stored = await load(true);
    if (stored !== undefined && peer.isUsable(stored.token, rejected)) return stored.token;
    if (closed) throw closedError();
    // A follower fetches only for callers still waiting: the leader's answer or failure may have come meanwhile.
    if (!leading && waiters.size === 0) throw new SessionError('aborted', 'The token is no longer needed');
    const set = await peer.fetchToken(refreshToken);
    remember(set.token);
    if (peer.usesRefreshToken) refreshToken = set.refreshToken ?? refreshToken;
    broadcasts++;
    post({ type: 'token', token: set.token });
    const record = { v: 1 as const, key, token: set.token };
    await store
      ?.write(peer.usesRefreshToken && refreshToken !== undefined ? { ...record, refreshToken } : record)
      .catch(lostStorage);
    return set.token;
  };

  /** A usable token from memory, or from one locked refresh shared by every caller in this context. */
  const fetchShared = async (rejected: string | undefined): Promise<Token> => {
    for (let round = 0; ; round++) {
      if (latest !== undefined && peer.isUsable(latest, rejected)) return latest;
      if (closed) throw closedError();
      if (flight === undefined) {
        const started: Promise<Token> = locked(() => refresh(rejected)).finally(() => {
          if (flight === started) flight = undefined;
        });
        flight = started;
      }
      const token = await flight;
      // A flight started for another caller may bring back the token this one rejected: fly once more.
      if (round > 0 || peer.isUsable(token, rejected)) return token;
    }
  };

  /** Gets the token in this context (as leader, or after the leader did not answer) for a waiting caller. */
  const serve = (waiter: Waiter): void => {
    if (!waiters.has(waiter)) return;
    fetchShared(waiter.rejected).then(
      (token) => waiter.settle({ token }),
      (error: unknown) => waiter.settle(error as Error),
    );
  };

  const ask = (rejected: string | undefined): Promise<TokenSet> =>
    new Promise((resolve, reject) => {
      const waiter: Waiter = {
        rejected,
        settle(outcome) {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      waiters.add(waiter);
      post({ type: 'request', rejected });
      // No answer in time (a frozen leader, a lost message): get it here, under the lock, after reading storage.
      const timer = setTimeout(serve, answerTimeout, waiter);
      if (!mayLead) {
        elector.hasLeader().then(
          (hasLeader) => hasLeader || serve(waiter),
          () => serve(waiter),
        );
      }
    });

  /** The leader answers a request with its token, fetching it first when it has none usable. */
  const answer = (rejected: string | undefined): void => {
    const before = broadcasts;
    fetchShared(rejected).then(
      (token) => {
        // A broadcast after the request arrived reached the asker; an older one may have preceded its channel.
        if (broadcasts === before) post({ type: 'token', token });
      },
      (error: unknown) => {
        const code = isSessionError(error) ? error.code : 'request_failed';
        if (isFailureCode(code)) post({ type: 'failed', code });
      },
    );
  };

  /** Sign-out at `at`, here or elsewhere: forget every token issued before it and stop waiting for one. */
  const forget = (at: number): void => {
    // Clamped to our clock: a forged or skewed timestamp must not kill every future token.
    clearedAt = Math.max(clearedAt, Math.min(at, peer.clock.now()));
    latest = undefined;
    refreshToken = undefined;
    for (const waiter of waiters) waiter.settle(new SessionError('aborted', 'The session was cleared'));
  };

  const receive = (token: Token): void => {
    if (token.issuedAt < clearedAt) return; // requested before a sign-out that reached us first
    remember(token);
    if (!peer.receiveToken(token)) report('invalid_message', 'Ignored a stale token');
    for (const waiter of waiters) if (peer.isUsable(token, waiter.rejected)) waiter.settle({ token });
  };

  channel.onmessage = ({ data }: MessageEvent<unknown>) => {
    const message = parseMessage(data);
    if (message === undefined || message.key !== key) {
      report('invalid_message', 'Ignored a malformed or foreign message');
      return;
    }
    switch (message.type) {
      case 'token':
        return receive(message.token);
      case 'request':
        if (leading) answer(message.rejected);
        return;
      case 'failed':
        for (const waiter of waiters) waiter.settle(new SessionError(message.code, `The leader could not get a token (${message.code})`));
        return;
      case 'clear':
        forget(message.at);
        return peer.receiveClear();
      case 'leader':
        for (const waiter of waiters) post({ type: 'request', rejected: waiter.rejected });
        return;
      case 'election':
        return deliver(message.data);
    }
  };
  channel.onmessageerror = () => report('invalid_message', 'Ignored an unreadable message');

  if (mayLead) {
    elector.awaitLeadership().then(
      () => {
        if (closed) return;
        leading = true;
        post({ type: 'leader' });
        peer.leadershipChanged(true);
        for (const waiter of waiters) serve(waiter);
        // A context that never needed a token yet learns the stored one, so that it refreshes it ahead of expiry.
        void load().then((set) => set && peer.receiveToken(set.token));
      },
      () => report('sharing_degraded', 'Cannot join the leader election'),
    );
  }

  return {
    get leading() {
      return leading;
    },
    load: () => load(),
    async obtain(rejected) {
      if (closed) throw closedError();
      return leading ? { token: await fetchShared(rejected) } : ask(rejected);
    },
    async clear() {
      const at = peer.clock.now();
      forget(at);
      post({ type: 'clear', at });
      // Under the lock: a request in flight elsewhere writes its token before we delete it, never after.
      const current = store;
      if (current !== undefined) await locked(() => current.remove()).catch(lostStorage);
    },
    async close() {
      if (closed) return;
      closed = true;
      leading = false;
      for (const waiter of waiters) waiter.settle(closedError());
      // Releases the Web Lock (the next context takes over at once) and says goodbye to the message election.
      await elector.die();
      channelOpen = false;
      channel.close();
    },
  };
}
