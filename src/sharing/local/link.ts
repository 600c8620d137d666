import type { Server, Socket } from 'node:net';
import { SessionError } from '../../core/errors.js';
import type { SignInPrompt } from '../../core/prompt.js';
import type { Token, TokenSet } from '../../core/token.js';
import type { SharedLink, SharingPeer } from '../sharing.js';
import { Asking } from './asking.js';
import type { Connection } from './connection.js';
import type { FileIdentity } from './directory.js';
import { elect, type Inode } from './election.js';
import { EpochFile } from './epoch-file.js';
import { STEPPED_DOWN, TokenFlights } from './flights.js';
import { watchInterval } from './liveness.js';
import type { Outgoing } from './protocol.js';
import { Serving } from './serving.js';
import { TokenStore } from './store.js';
import { type Waiter, Waiters } from './waiters.js';

/** The settings of one `localSharing` transport, defaults filled. */
export interface Settings {
  readonly dir: string | undefined;
  readonly timeout: number;
  readonly answerTimeout: number;
}

/**
 * How long a context that joined a sign-in run by the leader waits for it (ms): a person types a code meanwhile. The
 * sign-in bounds itself (a device code's `expires_in`, 30 min at most); this bounds the wait when it does not say.
 */
const SIGN_IN_TIMEOUT = 31 * 60_000;

type Role = 'electing' | 'leader' | 'client' | 'solo' | 'closed';

/**
 * One session's link to `localSharing`: the role this context plays (elected leader, client of one, or on its own),
 * the callers it serves in that role, and sign-outs. The leader's side is `Serving`, the client's `Asking`, and the
 * token requests of a context that leads are `TokenFlights`.
 */
// A class, not a literal with closures, as the other transports.
export class LocalLink implements SharedLink {
  readonly #peer: SharingPeer;
  readonly #dir: string;
  readonly #path: string;
  readonly #settings: Settings;
  readonly #store: TokenStore;
  readonly #epochs: EpochFile;
  /** The timer that reads the epoch file every answer timeout, for a context that hands nothing out meanwhile. */
  readonly #epochCheck: ReturnType<typeof setInterval>;
  #role: Role = 'electing';
  readonly #flights: TokenFlights;
  readonly #serving: Serving;
  readonly #asking: Asking;
  readonly #waiters: Waiters;
  #electing = false;
  #degradedOnce = false;
  /** close() was called: no new token request starts (one in flight is waited for, see close). */
  #closing = false;

  constructor(peer: SharingPeer, dir: string, path: string, settings: Settings) {
    this.#peer = peer;
    this.#dir = dir;
    this.#path = path;
    this.#settings = settings;
    const store = (this.#store = new TokenStore(peer));
    // Sign-outs before this context started: known, not news (no `cleared`).
    this.#epochs = new EpochFile(path);
    store.signOut(this.#epochs.read());
    const invalid = (why: string): void => this.#invalid(why);
    const signOut = (epoch: number): boolean => this.#signOut(epoch);
    this.#flights = new TokenFlights(peer, store, {
      beforeRequest: () => {
        if (this.#role === 'leader' && !this.#serving.owns()) {
          this.#stepDown();
          throw STEPPED_DOWN;
        }
        this.#assertOpen();
      },
      catchUp: () => this.#catchUp(),
      serving: () => this.#role === 'leader',
      broadcast: (message) => this.#serving.broadcast(message),
      signOutEverywhere: (epoch) => this.#signOutEverywhere(epoch),
    });
    this.#serving = new Serving(peer, path, settings.answerTimeout, store, this.#flights, {
      leading: () => this.#role === 'leader',
      stepDown: () => this.#stepDown(),
      state: () => this.#state(),
      signOut,
      learnSignOut: (epoch, from) => this.#learnSignOut(epoch, from),
      catchUp: () => this.#catchUp(),
      invalid,
    });
    this.#waiters = new Waiters(settings.timeout, () => this.#asking.checkLeader(), watchInterval(settings.answerTimeout));
    this.#asking = new Asking(peer, path, settings.answerTimeout, store, this.#waiters, {
      asking: () => this.#role === 'client',
      lost: (succeeding) => {
        this.#role = 'electing';
        void this.#elect(succeeding);
      },
      signOut,
      learnSignOut: (epoch) => this.#learnSignOut(epoch, undefined),
      invalid,
    });
    this.#epochCheck = setInterval(() => this.#catchUp(), settings.answerTimeout);
    this.#epochCheck.unref();
    void this.#elect();
  }

  get leading(): boolean {
    return this.#role === 'leader' || this.#role === 'solo';
  }

  /**
   * Read by the session before it hands out the token it holds: a sign-out recorded in the epoch file that this
   * context has not heard of is applied first (see `#catchUp`), so nothing is ever left to wait for.
   */
  get catchingUp(): undefined {
    this.#catchUp();
    return undefined;
  }

  load(): Promise<TokenSet | undefined> {
    this.#catchUp();
    return Promise.resolve(this.#store.set());
  }

  async obtain(rejected?: string): Promise<TokenSet> {
    for (;;) {
      this.#assertOpen();
      if (!this.leading) return { token: await this.#ask(rejected) };
      try {
        return { token: await this.#flights.fetchShared(rejected) };
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
        return { token: await this.#flights.signInShared(onPrompt) };
      } catch (error) {
        if (error !== STEPPED_DOWN) throw error;
      }
    }
  }

  clear(): Promise<void> {
    const epoch = this.#recordSignOut(this.#store.epoch + 1);
    this.#signOut(epoch);
    this.#tellSignOut(epoch);
    // Not connected: the sign-out goes with this context's `state` when it connects or leads.
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#role === 'closed' || this.#closing) return;
    // A leader whose rotation is in flight waits for it (for `timeout` at most, what its clients would wait) and
    // passes the answer on: its next refresh token exists nowhere else, and a successor would send the spent one.
    this.#closing = true;
    const flight = this.#flights.inFlight;
    if (this.#role === 'leader' && this.#peer.usesRefreshToken && flight !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let answered = false;
      const bound = new Promise((resolve) => (timer = setTimeout(resolve, this.#settings.timeout)).unref());
      const settled = flight.then(
        () => (answered = true),
        () => (answered = true),
      );
      await Promise.race([settled, bound]).finally(() => clearTimeout(timer));
      // A lost answer signs every context out (TokenFlights schedules it): while this context still leads.
      await new Promise((resolve) => setTimeout(resolve, 0));
      // Still unanswered after `timeout`: the refresh token it sent may be spent, and a successor would send it
      // again. Every context is signed out, as for a lost answer (the late answer is dropped: its epoch ended).
      if (!answered && this.#role === 'leader') this.#signOutEverywhere(this.#store.epoch + 1);
    }
    const wasLeader = this.#role === 'leader';
    this.#role = 'closed';
    clearInterval(this.#epochCheck);
    this.#waiters.fail(new SessionError('closed', 'The session was closed'));
    this.#asking.disconnect();
    if (!wasLeader) return;
    await this.#serving.handOver().finally(() => this.#serving.resign());
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
        accept: (socket) => this.#serving.accept(socket),
        succeeding,
      });
      // A successor kept its connection to the closing leader until now (see Asking's `lead`).
      if (elected.role !== 'client') this.#asking.disconnect();
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
    this.#role = 'client';
    this.#asking.connect(socket, file, this.#state());
  }

  #becomeLeader(server: Server, inode: Inode): void {
    this.#serving.start(server, inode);
    this.#role = 'leader';
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

  #stepDown(): void {
    if (this.#role !== 'leader') return;
    this.#serving.resign();
    this.#role = 'electing';
    this.#peer.leadershipChanged(false);
    void this.#elect();
  }

  // The callers of this context.

  /** Asks the leader (now, or once connected) and waits for its answer. */
  #ask(rejected: string | undefined, signIn = false, onPrompt?: (prompt: SignInPrompt) => void): Promise<Token> {
    const { waiter, answer } = this.#waiters.add(rejected, this.#store.epoch, signIn, SIGN_IN_TIMEOUT, onPrompt);
    if (this.leading) this.#serve(waiter);
    else if (this.#asking.connected) this.#asking.send(waiter);
    return answer;
  }

  /** This context leads now: it serves the callers that were waiting for an answer itself. */
  #serveWaiters(): void {
    for (const waiter of this.#waiters.all()) this.#serve(waiter);
  }

  #serve(waiter: Waiter): void {
    (waiter.signIn ? this.#flights.signInShared(waiter.onPrompt) : this.#flights.fetchShared(waiter.rejected)).then(
      (token) => waiter.settle(token),
      (error: unknown) => {
        // Stepped down: the waiter stays, and is asked of the new leader once connected.
        if (error !== STEPPED_DOWN) waiter.settle(error as Error);
      },
    );
  }

  // Sign-outs: epochs (store.ts), recorded in the epoch file (epoch-file.ts).
  //
  // A sign-out is told live (the leader passes `clear` on) and recorded in the rendezvous directory. Each context
  // reads the record before it hands out the token it holds, before each token request, and every answer timeout:
  // so a sign-out reaches every process even while the leader is stopped or busy — it passes nothing on then, and a
  // process that holds a usable token never asks it, never notices its silence. Reading costs one `lstat`, and no
  // message: the alternative, idle clients pinging the leader, would replace a leader busy with CPU work for more
  // than an answer timeout even when nobody needs a token, and a pool worker's leader is busy most of the time.

  /** Tells the other contexts of a sign-out to `epoch`: the leader its clients, a client its leader. */
  #tellSignOut(epoch: number): void {
    if (this.#role === 'leader') this.#serving.broadcast({ type: 'clear', epoch });
    else this.#asking.tell({ type: 'clear', epoch });
  }

  #signOutEverywhere(atLeast: number): void {
    if (this.#role === 'closed' || this.#store.epoch >= atLeast) return;
    const epoch = this.#recordSignOut(atLeast);
    this.#signOut(epoch);
    this.#tellSignOut(epoch);
    this.#peer.receiveClear();
  }

  /**
   * Records a sign-out in the epoch file, to `atLeast` or later (others may sign out at the same time); returns the
   * epoch recorded. A context on its own keeps no record; one that cannot write it says so once, and its sign-out
   * then travels through the leader only.
   */
  #recordSignOut(atLeast: number): number {
    if (this.#role === 'solo') return atLeast;
    try {
      return this.#epochs.raise(atLeast);
    } catch (error) {
      this.#degraded(`localSharing: ${(error as Error).message}; a sign-out reaches the other contexts through the leader only`);
      return atLeast;
    }
  }

  /**
   * Applies a sign-out recorded in the epoch file that this context has not heard of, as if told live, and passes it
   * on. Not told by our leader, which may be silent: and replaced already, by the context that signed out.
   */
  #catchUp(): void {
    if (this.#role === 'solo' || this.#role === 'closed') return;
    const epoch = this.#epochs.read();
    if (!this.#signOut(epoch)) return;
    this.#tellSignOut(epoch);
    this.#peer.receiveClear();
    if (this.#role === 'client') this.#asking.followReplacement();
  }

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
    if (this.#role === 'leader') this.#serving.broadcast({ type: 'clear', epoch }, from);
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
