import type { Server, Socket } from 'node:net';
import { isSessionError, SessionError } from '../../core/errors.js';
import { boundedByClock, type Token, type TokenSet } from '../../core/token.js';
import type { SharedLink, SharingPeer } from '../sharing.js';
import { Connection } from './connection.js';
import { type FileIdentity, identityOf, unlinkIfSame } from './directory.js';
import { elect, type Inode, ownsPath, resign } from './election.js';
import { heartbeat, LeaderWatch, watchInterval } from './liveness.js';
import type { SignInPrompt } from '../../core/prompt.js';
import { failure, type Message, type Outgoing, promptMessage, promptOf } from './protocol.js';
import { TokenStore } from './store.js';
import { type Waiter, Waiters } from './waiters.js';

/** The settings of one `localSharing` transport, defaults filled. */
export interface Settings {
  readonly dir: string | undefined;
  readonly timeout: number;
  readonly answerTimeout: number;
}

/**
 * How often (ms) a leader checks that the socket file is still the one it linked: a client that found it silent, or
 * a contender that took it for stale, may have replaced it. The one whose file was replaced steps down within this
 * time, and its clients reconnect to the other. It also checks before each token request.
 */
const OWNERSHIP_CHECK_INTERVAL = 100;

/** How often (ms) a closing leader checks whether its successor took the socket over. */
const HAND_OVER_CHECK_INTERVAL = 5;

/**
 * How long a context that joined a sign-in run by the leader waits for it (ms): a person types a code meanwhile. The
 * sign-in bounds itself (a device code's `expires_in`, 30 min at most); this bounds the wait when it does not say.
 */
const SIGN_IN_TIMEOUT = 31 * 60_000;

/** Thrown inside a leader that found its socket replaced: the caller asks the new leader instead. */
const STEPPED_DOWN = new SessionError('aborted', 'This context is no longer the leader');

type Role = 'electing' | 'leader' | 'client' | 'solo' | 'closed';

// A class, not a literal with closures, as the other transports.
export class LocalLink implements SharedLink {
  readonly #peer: SharingPeer;
  readonly #dir: string;
  readonly #path: string;
  readonly #settings: Settings;
  readonly #store: TokenStore;
  #role: Role = 'electing';
  /** Leader: the listening server, the socket inode it linked into place, and its clients. */
  #server: Server | undefined;
  #inode: Inode | undefined;
  /** Leader: the timer of the ownership check (see OWNERSHIP_CHECK_INTERVAL). */
  #ownership: ReturnType<typeof setInterval> | undefined;
  readonly #clients = new Set<Connection>();
  /** Client: the connection to the leader, the socket file it was made through, and what the leader said last. */
  #leader: Connection | undefined;
  #leaderFile: FileIdentity | undefined;
  readonly #watch = new LeaderWatch();
  /** Leader: the one token request of this context. */
  #flight: Promise<Token> | undefined;
  /** Leader: the one sign-in of this context, which every context that signs in meanwhile joins. */
  #signInFlight: Promise<Token> | undefined;
  /** The refresh token the provider refused (`invalid_grant`): never sent again. */
  #refusedRefreshToken: string | undefined | null = null;
  readonly #waiters: Waiters;
  #electing = false;
  #degradedOnce = false;
  /** Closing as leader: waiting for the successor to take the socket over (see #handOver). */
  #handingOver = false;
  /** close() was called: no new token request starts (one in flight is waited for, see close). */
  #closing = false;

  constructor(peer: SharingPeer, dir: string, path: string, settings: Settings) {
    this.#peer = peer;
    this.#dir = dir;
    this.#path = path;
    this.#settings = settings;
    this.#store = new TokenStore(peer);
    this.#waiters = new Waiters(settings.timeout, () => this.#checkLeader(), watchInterval(settings.answerTimeout));
    void this.#elect();
  }

  get leading(): boolean {
    return this.#role === 'leader' || this.#role === 'solo';
  }

  load(): Promise<TokenSet | undefined> {
    return Promise.resolve(this.#store.set());
  }

  async obtain(rejected?: string): Promise<TokenSet> {
    for (;;) {
      this.#assertOpen();
      if (!this.leading) return { token: await this.#ask(rejected) };
      try {
        return { token: await this.#fetchShared(rejected) };
      } catch (error) {
        if (error !== STEPPED_DOWN) throw error;
      }
    }
  }

  /**
   * A sign-in for every context: the leader runs it (its provider's sign-in: a device authorization), once for all
   * that ask while it runs; a context that is not the leader asks it, and waits (bounded by `SIGN_IN_TIMEOUT`). A
   * usable token the leader holds is the answer instead: someone signed in already.
   */
  async obtainHere(onPrompt?: (prompt: SignInPrompt) => void): Promise<TokenSet> {
    for (;;) {
      this.#assertOpen();
      if (!this.leading) return { token: await this.#ask(undefined, true, onPrompt) };
      try {
        return { token: await this.#signInShared(onPrompt) };
      } catch (error) {
        if (error !== STEPPED_DOWN) throw error;
      }
    }
  }

  clear(): Promise<void> {
    const epoch = this.#store.epoch + 1;
    this.#signOut(epoch);
    if (this.#role === 'leader') this.#broadcast({ type: 'clear', epoch });
    else this.#leader?.send({ type: 'clear', epoch });
    // Not connected: the sign-out goes with this context's `state` when it connects or leads.
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#role === 'closed' || this.#closing) return;
    // A leader whose rotation is in flight waits for it (for `timeout` at most, what its clients would wait) and
    // passes the answer on: its next refresh token exists nowhere else, and a successor would send the spent one.
    this.#closing = true;
    const flight = this.#flight;
    if (this.#role === 'leader' && this.#peer.usesRefreshToken && flight !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise((resolve) => (timer = setTimeout(resolve, this.#settings.timeout)).unref());
      await Promise.race([flight.catch(() => undefined), bound]).finally(() => clearTimeout(timer));
      // A lost answer signs every context out (#refresh schedules it): while this context still leads.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const wasLeader = this.#role === 'leader';
    this.#role = 'closed';
    this.#waiters.fail(new SessionError('closed', 'The session was closed'));
    this.#leader?.socket.destroy();
    this.#leader = undefined;
    if (!wasLeader) return;
    await this.#handOver().finally(() => this.#resign());
  }

  /**
   * A leader that closes while clients hold its token asks one of them to take its socket over (`lead`), and keeps
   * answering newcomers with its `state` until it has, for an answer timeout at most. Resigning at once would leave
   * the socket path empty until a client noticed, and a context starting then would lead without the token and
   * request another (seen in CI: 2 token requests for 8 processes of examples/node-process-pool).
   */
  async #handOver(): Promise<void> {
    const successor = this.#clients.values().next().value;
    if (successor === undefined || this.#store.set() === undefined) return;
    this.#handingOver = true;
    successor.send({ type: 'lead' });
    const started = performance.now();
    while (ownsPath(this.#path, this.#inode) && performance.now() - started < this.#settings.answerTimeout && !successor.socket.destroyed) {
      await new Promise((resolve) => setTimeout(resolve, HAND_OVER_CHECK_INTERVAL));
    }
    this.#handingOver = false;
  }

  // Election (election.ts decides; this applies the outcome).

  async #elect(succeeding?: FileIdentity): Promise<void> {
    if (this.#electing) return;
    this.#electing = true;
    try {
      const elected = await elect({
        dir: this.#dir,
        path: this.#path,
        answerTimeout: this.#settings.answerTimeout,
        electing: () => this.#role === 'electing',
        accept: (socket) => this.#accept(socket),
        succeeding,
      });
      switch (elected.role) {
        case 'client':
          this.#becomeClient(elected.socket, elected.file);
          return;
        case 'leader':
          this.#becomeLeader(elected.server, elected.inode);
          return;
        case 'solo':
          this.#goSolo(elected.why);
          return;
        case 'abandoned':
          return;
      }
    } finally {
      this.#electing = false;
    }
  }

  #becomeClient(socket: Socket, file: FileIdentity): void {
    const connection = new Connection(socket, (message) => this.#fromLeader(message), (why) => this.#invalid(why));
    socket.unref();
    this.#role = 'client';
    this.#leader = connection;
    this.#leaderFile = file;
    this.#watch.reset();
    socket.on('close', () => {
      if (this.#leader !== connection) return;
      this.#leader = undefined;
      if (this.#role !== 'client') return;
      // The leader is gone (exited, killed, or stepped down): elect again; waiting requests are sent again.
      this.#role = 'electing';
      void this.#elect();
    });
    connection.send(this.#state());
    for (const waiter of this.#waiters.all()) this.#send(waiter);
  }

  #becomeLeader(server: Server, inode: Inode): void {
    this.#server = server;
    this.#inode = inode;
    this.#role = 'leader';
    this.#ownership = setInterval(() => ownsPath(this.#path, this.#inode) || this.#stepDown(), OWNERSHIP_CHECK_INTERVAL);
    this.#ownership.unref();
    this.#peer.leadershipChanged(true);
    this.#serveWaiters();
  }

  /** Something unexpected (the directory changed hands, permissions…): this context fetches for itself, and says so. */
  #goSolo(why: string): void {
    this.#role = 'solo';
    this.#degraded(`localSharing: ${why}; this context gets its own token`);
    this.#peer.leadershipChanged(true);
    this.#serveWaiters();
  }

  /** Stops leading: closes the server and the connections, and deletes the socket file if it is still ours. */
  #resign(): void {
    resign(this.#path, this.#server, this.#inode);
    this.#server = undefined;
    this.#inode = undefined;
    clearInterval(this.#ownership);
    this.#ownership = undefined;
    for (const client of this.#clients) client.socket.destroy();
    this.#clients.clear();
  }

  #stepDown(): void {
    if (this.#role !== 'leader') return;
    this.#resign();
    this.#role = 'electing';
    this.#peer.leadershipChanged(false);
    void this.#elect();
  }

  /**
   * Our requests met silence for an answer timeout: the leader is alive but busy, or stopped. It is replaced (its
   * socket file deleted, if still the one we connected through, and an election held) — unless it said it was
   * requesting a token with a rotating refresh token, or never said anything (stopped before it accepted us: it may
   * be rotating as well as idle): then the callers fail with `timeout`, since the replacement would send the refresh
   * token the silent one may be rotating — or, once a context that knew it idle replaced it, they ask the new one.
   */
  #checkLeader(): void {
    if (this.#role !== 'client') return;
    const { answerTimeout } = this.#settings;
    const silent = (waiter: Waiter): boolean => this.#watch.silent(waiter.askedAt, answerTimeout);
    if (!this.#waiters.all().some(silent)) return;
    if (this.#peer.usesRefreshToken && (this.#watch.requesting || !this.#watch.spoke)) {
      // Replaced meanwhile by a context that knew it idle: ask the new one instead.
      if (identityOf(this.#path)?.id !== this.#leaderFile?.id) {
        this.#leader?.socket.destroy();
        return;
      }
      const error = new SessionError('timeout', 'The leader stopped responding while refreshing; not sending its refresh token again');
      this.#waiters.fail(error, silent);
      return;
    }
    const connection = this.#leader;
    this.#leader = undefined;
    this.#role = 'electing';
    connection?.socket.destroy();
    unlinkIfSame(this.#path, this.#leaderFile);
    void this.#elect();
  }

  // Leader.

  #accept(socket: Socket): void {
    socket.unref();
    if (this.#handingOver) {
      // Closing: a newcomer gets the token with our state, and reconnects to the successor when we resign.
      const connection = new Connection(socket, () => undefined, () => undefined);
      this.#clients.add(connection);
      connection.send(this.#state());
      return;
    }
    if (this.#role !== 'leader') {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, (message, from) => this.#fromClient(message, from), (why) => this.#invalid(why));
    this.#clients.add(connection);
    socket.on('close', () => this.#clients.delete(connection));
    connection.send(this.#state());
  }

  #fromClient(message: Message, from: Connection): void {
    if (this.#role !== 'leader') return;
    switch (message.type) {
      case 'state': {
        this.#learnSignOut(message.epoch, from);
        if (message.token !== undefined && this.#store.take(message.token, message.refreshToken, message.epoch)) {
          // A token newer than ours (this leader is new, and the client had it from the old one): everyone gets it.
          const token = this.#store.latest!;
          if (!this.#peer.receiveToken(token)) this.#invalid('Ignored a stale token');
          this.#broadcast(this.#tokenMessage(token), from);
        }
        return;
      }
      case 'request': {
        const { id, rejected } = message;
        // A sign-in this request starts shows its prompt in the asker's process (`prompt`), not here.
        const onPrompt = message.prompt === true ? (prompt: SignInPrompt) => from.send(promptMessage(id, prompt)) : undefined;
        (message.signIn === true ? this.#signInShared(onPrompt) : this.#fetchShared(rejected)).then(
          (token) => {
            // A sign-out may have come (on this very connection) while the answer was on its way: the token it
            // ended is never sent with the new epoch. The asker's wait was aborted by that sign-out already.
            if (this.#store.latest?.accessToken === token.accessToken) from.send({ ...this.#tokenMessage(token), id });
            else from.send(failure(id, new SessionError('aborted', 'The session was cleared')));
          },
          (error: unknown) => {
            if (error === STEPPED_DOWN) return; // the connection is closed: the client asks the new leader
            from.send(failure(id, error));
          },
        );
        return;
      }
      case 'clear':
        if (!this.#signOut(message.epoch)) return;
        this.#broadcast({ type: 'clear', epoch: message.epoch }, from);
        this.#peer.receiveClear();
        return;
      default:
        this.#invalid('Ignored a message only a leader sends');
    }
  }

  /** A usable token from memory, or from the one token request of this context, shared by every caller. */
  async #fetchShared(rejected: string | undefined): Promise<Token> {
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
      // A flight started for another caller may bring back the token this one rejected: fly once more.
      if (round > 0 || this.#peer.isUsable(token, rejected)) return token;
    }
  }

  /** The token held, when usable; else the sign-in of this context, started now or joined. */
  #signInShared(onPrompt?: (prompt: SignInPrompt) => void): Promise<Token> {
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
    // Before each request: a context that took our socket for stale (or us for silent) may lead now. Then it
    // fetches, not us.
    if (this.#role === 'leader' && !ownsPath(this.#path, this.#inode)) {
      this.#stepDown();
      throw STEPPED_DOWN;
    }
    this.#assertOpen();
    // A sign-in starts a new grant: no refresh token of the earlier one is sent, refused or not.
    const refreshToken = signIn ? undefined : this.#store.refreshToken;
    if (!signIn && this.#peer.usesRefreshToken && this.#refusedRefreshToken === refreshToken) {
      throw new SessionError('login_required', 'Signed out: the refresh token was refused');
    }
    const epoch = this.#store.epoch;
    const quiet = heartbeat(() => this.#broadcast({ type: 'busy' }));
    let set: TokenSet;
    try {
      set = signIn ? await this.#peer.fetchToken(undefined, true, onPrompt) : await this.#peer.fetchToken(refreshToken);
    } catch (error) {
      if (!signIn && this.#peer.usesRefreshToken && isSessionError(error, 'invalid_grant') && this.#store.epoch === epoch) {
        // The newest refresh token known is dead: revoked, or its rotation was lost when a leader died before
        // passing on the next one. Never sent again from here; and every context is signed out, instead of each
        // trying it — after the failure has gone out to the contexts that asked (their answers run as microtasks).
        this.#refusedRefreshToken = refreshToken;
        setTimeout(() => this.#signOutEverywhere(epoch + 1), 0);
      }
      throw error;
    } finally {
      quiet();
    }
    if (this.#store.epoch !== epoch) throw new SessionError('aborted', 'The session was cleared');
    this.#store.take(set.token, set.refreshToken, epoch);
    if (this.#role === 'leader') this.#broadcast(this.#tokenMessage(set.token));
    return set.token;
  }

  #signOutEverywhere(epoch: number): void {
    if (this.#role === 'closed' || !this.#signOut(epoch)) return;
    if (this.#role === 'leader') this.#broadcast({ type: 'clear', epoch });
    else this.#leader?.send({ type: 'clear', epoch });
    this.#peer.receiveClear();
  }

  #broadcast(message: Outgoing, except?: Connection): void {
    for (const client of this.#clients) if (client !== except) client.send(message);
  }

  #tokenMessage(token: Token): Extract<Outgoing, { type: 'token' }> {
    return { type: 'token', token, epoch: this.#store.epoch, ...this.#store.refreshPart() };
  }

  // Client.

  #fromLeader(message: Message): void {
    if (this.#role !== 'client') return;
    this.#watch.heard(message);
    switch (message.type) {
      case 'state':
        this.#learnSignOut(message.epoch, undefined);
        if (message.token !== undefined) this.#accepted(message.token, message.refreshToken, message.epoch, undefined);
        return;
      case 'token':
        this.#accepted(message.token, message.refreshToken, message.epoch, message.id);
        return;
      case 'busy':
        return;
      case 'prompt':
        try {
          this.#waiters.get(message.id)?.onPrompt?.(promptOf(message));
        } catch {
          // The app's callback failed: the sign-in goes on (the person may see the code elsewhere, or time out).
        }
        return;
      case 'failed': {
        const { id, code, retryAfter, status, oauthError } = message;
        this.#waiters
          .get(id)
          ?.settle(new SessionError(code, `The leader could not get a token (${code})`, { retryAfter, status, oauthError }));
        return;
      }
      case 'clear':
        if (this.#signOut(message.epoch)) this.#peer.receiveClear();
        return;
      case 'lead': {
        // The leader is closing and chose us: take its socket over (renamed over its file, so never empty).
        const connection = this.#leader;
        const file = this.#leaderFile;
        this.#leader = undefined;
        this.#role = 'electing';
        connection?.socket.destroy();
        void this.#elect(file);
        return;
      }
      default:
        this.#invalid('Ignored a message only a client sends');
    }
  }

  /** A token from the leader, requested in `epoch`; `id` when it answers one of our requests. */
  #accepted(received: Token, refreshToken: string | undefined, epoch: number, id: number | undefined): void {
    // Requested before a sign-out that reached us first: dead. After one we missed: we learn of it.
    if (epoch < this.#store.epoch) return;
    this.#learnSignOut(epoch, undefined);
    const token = boundedByClock(received, this.#peer.clock.now());
    if (this.#store.take(token, refreshToken, epoch) && !this.#peer.receiveToken(token)) this.#invalid('Ignored a stale token');
    if (id !== undefined) this.#waiters.get(id)?.settle(token);
    for (const waiter of this.#waiters.all()) if (this.#peer.isUsable(token, waiter.rejected)) waiter.settle(token);
  }

  /** Asks the leader (now, or once connected) and waits for its answer. */
  #ask(rejected: string | undefined, signIn = false, onPrompt?: (prompt: SignInPrompt) => void): Promise<Token> {
    const { waiter, answer } = this.#waiters.add(rejected, this.#store.epoch, signIn, SIGN_IN_TIMEOUT, onPrompt);
    if (this.leading) this.#serve(waiter);
    else if (this.#leader !== undefined) this.#send(waiter);
    return answer;
  }

  #send(waiter: Waiter): void {
    waiter.askedAt = performance.now();
    this.#leader?.send({
      type: 'request',
      id: waiter.id,
      ...(waiter.rejected === undefined ? {} : { rejected: waiter.rejected }),
      ...(waiter.signIn ? { signIn: true as const } : {}),
      ...(waiter.signIn && waiter.onPrompt !== undefined ? { prompt: true as const } : {}),
    });
  }

  /** This context leads now: it serves the callers that were waiting for an answer itself. */
  #serveWaiters(): void {
    for (const waiter of this.#waiters.all()) this.#serve(waiter);
  }

  #serve(waiter: Waiter): void {
    (waiter.signIn ? this.#signInShared(waiter.onPrompt) : this.#fetchShared(waiter.rejected)).then(
      (token) => waiter.settle(token),
      (error: unknown) => {
        // Stepped down: the waiter stays, and is asked of the new leader once connected.
        if (error !== STEPPED_DOWN) waiter.settle(error as Error);
      },
    );
  }

  // Sign-outs: epochs (store.ts).

  /**
   * A sign-out to `epoch`, told live (a `clear` message, or this context's own): tokens of earlier epochs are
   * dropped, and callers that were waiting before it stop waiting. Returns whether it was news.
   */
  #signOut(epoch: number): boolean {
    if (this.#store.signOut(epoch) === false) return false;
    this.#waiters.fail(new SessionError('aborted', 'The session was cleared'), (waiter) => waiter.since < epoch);
    return true;
  }

  /**
   * A sign-out to `epoch` learnt from the other end of a new connection (its `state`), or from a token of a later
   * epoch: it happened while we were not connected, so it aborts no caller (they get a token of the new epoch). The
   * session here is signed out when we held a token it ended, or when the grant's refresh token predates it. A leader
   * passes it on to its other clients.
   */
  #learnSignOut(epoch: number, from: Connection | undefined): void {
    const ended = this.#store.signOut(epoch);
    if (ended === false) return;
    if (this.#role === 'leader') this.#broadcast({ type: 'clear', epoch }, from);
    if (ended !== true || this.#peer.usesRefreshToken) this.#peer.receiveClear();
  }

  /** What this context tells the other end of a new connection. */
  #state(): Outgoing {
    const token = this.#store.set()?.token;
    return { type: 'state', epoch: this.#store.epoch, ...(token === undefined ? {} : { token, ...this.#store.refreshPart() }) };
  }

  #invalid(why: string): void {
    this.#peer.report(new SessionError('invalid_message', why));
  }

  #degraded(message: string): void {
    if (this.#degradedOnce) return;
    this.#degradedOnce = true;
    this.#peer.report(new SessionError('sharing_degraded', message));
  }

  #assertOpen(): void {
    if (this.#role === 'closed' || this.#closing) throw new SessionError('closed', 'The session was closed');
  }
}

