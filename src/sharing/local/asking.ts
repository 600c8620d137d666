import type { Socket } from 'node:net';
import { setImmediate } from 'node:timers';
import { SessionError } from '../../core/errors.js';
import { boundedByClock, type Token } from '../../core/token.js';
import type { SharingPeer } from '../sharing.js';
import { Connection } from './connection.js';
import { type FileIdentity, identityOf, unlinkIfSame } from './directory.js';
import { LeaderWatch } from './liveness.js';
import { type Message, type Outgoing, promptOf } from './protocol.js';
import type { TokenStore } from './store.js';
import type { Waiter, Waiters } from './waiters.js';

/** What the client's side needs of its link. */
export interface AskingHooks {
  /** Whether this context is a client now (what a leader says, and its silence, matter only then). */
  readonly asking: () => boolean;
  /**
   * The leader is gone, silent or closing: elect again — `succeeding` the socket file the closing leader handed
   * over to us, if it did.
   */
  readonly lost: (succeeding?: FileIdentity) => void;
  /** A sign-out told live; returns whether it was news (see `LocalLink`). */
  readonly signOut: (epoch: number) => boolean;
  /** A sign-out learnt from the leader's `state` or a token of a later epoch. */
  readonly learnSignOut: (epoch: number) => void;
  readonly invalid: (why: string) => void;
}

/**
 * The client's side of `localSharing`: the connection to the leader, the requests of this context's waiting
 * callers, what the leader answers, and its silence.
 */
export class Asking {
  readonly #peer: SharingPeer;
  readonly #path: string;
  readonly #answerTimeout: number;
  readonly #store: TokenStore;
  readonly #waiters: Waiters;
  readonly #hooks: AskingHooks;
  /** The connection to the leader, the socket file it was made through, and what the leader said last. */
  #leader: Connection | undefined;
  #leaderFile: FileIdentity | undefined;
  readonly #watch = new LeaderWatch();
  /** A verdict on the leader's silence is due after the event loop's next read of its sockets. */
  #judging = false;

  constructor(peer: SharingPeer, path: string, answerTimeout: number, store: TokenStore, waiters: Waiters, hooks: AskingHooks) {
    this.#peer = peer;
    this.#path = path;
    this.#answerTimeout = answerTimeout;
    this.#store = store;
    this.#waiters = waiters;
    this.#hooks = hooks;
  }

  /** Whether a leader is connected, to be asked now. */
  get connected(): boolean {
    return this.#leader !== undefined;
  }

  /** Connects through `socket`, made to the socket file `file`; tells the leader `state` and asks for every waiter. */
  connect(socket: Socket, file: FileIdentity, state: Outgoing): void {
    this.disconnect();
    const connection = new Connection(socket, (message) => this.#fromLeader(message), (why) => this.#hooks.invalid(why));
    socket.unref();
    this.#leader = connection;
    this.#leaderFile = file;
    this.#watch.reset();
    socket.on('close', () => {
      if (this.#leader !== connection) return;
      this.#leader = undefined;
      // The leader is gone (exited, killed, or stepped down): elect again; waiting requests are sent again.
      if (this.#hooks.asking()) this.#hooks.lost();
    });
    connection.send(state);
    for (const waiter of this.#waiters.all()) this.send(waiter);
  }

  /** Drops the connection to the leader, if any. */
  disconnect(): void {
    const connection = this.#leader;
    this.#leader = undefined;
    connection?.socket.destroy();
  }

  /**
   * Our leader was replaced (another socket file is in place: a context found it silent): connects to the one that
   * leads there now, instead of waiting for the silence of ours to show.
   */
  followReplacement(): void {
    const now = identityOf(this.#path);
    if (this.#leader === undefined || now === undefined || now.id === this.#leaderFile?.id) return;
    this.disconnect();
    this.#hooks.lost();
  }

  /** Tells the leader, if connected. */
  tell(message: Outgoing): void {
    this.#leader?.send(message);
  }

  /** Asks the leader for `waiter`'s token. */
  send(waiter: Waiter): void {
    waiter.askedAt = performance.now();
    this.#leader?.send({
      type: 'request',
      id: waiter.id,
      ...(waiter.rejected === undefined ? {} : { rejected: waiter.rejected }),
      ...(waiter.signIn ? { signIn: true as const } : {}),
      ...(waiter.signIn && waiter.onPrompt !== undefined ? { prompt: true as const } : {}),
    });
  }

  /**
   * Our requests met silence for an answer timeout: the leader is alive but busy, or stopped. It is replaced (its
   * socket file deleted, if still the one we connected through, and an election held) — unless it said it was
   * requesting a token with a rotating refresh token, or never said anything (stopped before it accepted us: it may
   * be rotating as well as idle): then the callers fail with `timeout`, since the replacement would send the refresh
   * token the silent one may be rotating — or, once a context that knew it idle replaced it, they ask the new one.
   */
  checkLeader(): void {
    if (!this.#hooks.asking() || this.#judging || !this.#waiters.all().some(this.#silent)) return;
    // Node runs due timers before it reads its sockets: a context held up (its own CPU work, or a loaded machine
    // that ran it late) would judge silent a leader whose answer waits unread. The verdict comes after one read.
    this.#judging = true;
    setImmediate(() => {
      this.#judging = false;
      this.#judge();
    });
  }

  /** Whether `waiter`'s request met silence for an answer timeout, in what was read of the leader so far. */
  readonly #silent = (waiter: Waiter): boolean => this.#watch.silent(waiter.askedAt, this.#answerTimeout);

  #judge(): void {
    if (!this.#hooks.asking()) return;
    const silent = this.#silent;
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
    this.disconnect();
    unlinkIfSame(this.#path, this.#leaderFile);
    this.#hooks.lost();
  }

  #fromLeader(message: Message): void {
    if (!this.#hooks.asking()) return;
    this.#watch.heard(message);
    switch (message.type) {
      case 'state':
        this.#hooks.learnSignOut(message.epoch);
        if (message.token !== undefined) this.#accepted(message.token, message.refreshToken, message.epoch, undefined);
        return;
      case 'token':
        this.#accepted(message.token, message.refreshToken, message.epoch, message.id);
        return;
      case 'prompt':
        try {
          this.#waiters.get(message.id)?.onPrompt?.(promptOf(message));
        } catch {
          // The app's callback failed: the sign-in goes on (the person may see the code elsewhere, or time out).
        }
        return;
      case 'busy':
        return;
      case 'failed': {
        const { id, code, retryAfter, status, oauthError } = message;
        this.#waiters
          .get(id)
          ?.settle(new SessionError(code, `The leader could not get a token (${code})`, { retryAfter, status, oauthError }));
        return;
      }
      case 'clear':
        if (this.#hooks.signOut(message.epoch)) this.#peer.receiveClear();
        return;
      case 'lead':
        // The leader is closing and chose us: take its socket over (renamed over its file, so never empty). The
        // connection stays open until the election is decided: a leader that sees it close while the file is still
        // its own takes us for gone and asks another client.
        this.#hooks.lost(this.#leaderFile);
        return;
      default:
        this.#hooks.invalid('Ignored a message only a client sends');
    }
  }

  /** A token from the leader, requested in `epoch`; `id` when it answers one of our requests. */
  #accepted(received: Token, refreshToken: string | undefined, epoch: number, id: number | undefined): void {
    // Requested before a sign-out that reached us first: dead. After one we missed: we learn of it.
    if (epoch < this.#store.epoch) return;
    this.#hooks.learnSignOut(epoch);
    const token = boundedByClock(received, this.#peer.clock.now());
    if (this.#store.take(token, refreshToken, epoch) && !this.#peer.receiveToken(token)) this.#hooks.invalid('Ignored a stale token');
    if (id !== undefined) this.#waiters.get(id)?.settle(token);
    for (const waiter of this.#waiters.all()) if (this.#peer.isUsable(token, waiter.rejected)) waiter.settle(token);
  }
}
