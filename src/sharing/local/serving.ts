import type { Server, Socket } from 'node:net';
import { setImmediate } from 'node:timers';
import { SessionError } from '../../core/errors.js';
import type { SignInPrompt } from '../../core/prompt.js';
import { isExpired } from '../../core/token.js';
import type { SharingPeer } from '../sharing.js';
import { Connection } from './connection.js';
import { type Inode, ownsPath, resign } from './election.js';
import { STEPPED_DOWN, type TokenFlights } from './flights.js';
import { failure, type Message, type Outgoing, promptMessage } from './protocol.js';
import type { TokenStore } from './store.js';

/**
 * How often (ms) a leader checks that the socket file is still the one it linked: a client that found it silent, or
 * a contender that took it for stale, may have replaced it. The one whose file was replaced steps down within this
 * time, and its clients reconnect to the other. It also checks before each token request.
 */
const OWNERSHIP_CHECK_INTERVAL = 100;

/** How often (ms) a closing leader checks whether its successor took the socket over. */
const HAND_OVER_CHECK_INTERVAL = 5;

/**
 * How long (ms) a closing leader waits for the client it asked to take over before it asks the next one as well: a
 * client busy with CPU work, or stopped, would otherwise hold the hand-over for the whole answer timeout and leave the
 * path empty after it while the others hold the token. Two that take over one after the other are harmless: the one
 * whose file was replaced steps down (OWNERSHIP_CHECK_INTERVAL) and its clients follow the other; both hold the token.
 */
const SUCCESSOR_PATIENCE = 100;

/** What the leader's side needs of its link. */
export interface ServingHooks {
  /** Whether this context leads now (a message from a client matters only then). */
  readonly leading: () => boolean;
  /** Our socket file was replaced: stop leading. */
  readonly stepDown: () => void;
  /** What this context tells the other end of a new connection. */
  readonly state: () => Outgoing;
  /** A sign-out told live; returns whether it was news (see `LocalLink`). */
  readonly signOut: (epoch: number) => boolean;
  /** A sign-out learnt from a client's `state`, passed on to the others. */
  readonly learnSignOut: (epoch: number, from: Connection) => void;
  /** Applies a sign-out recorded on disk that this context has not heard of (before it answers from memory). */
  readonly catchUp: () => void;
  readonly invalid: (why: string) => void;
}

/**
 * The leader's side of `localSharing`: the socket it serves, the clients connected to it and what they ask, and the
 * hand-over of the socket to one of them when it closes.
 */
export class Serving {
  readonly #peer: SharingPeer;
  readonly #path: string;
  readonly #answerTimeout: number;
  readonly #store: TokenStore;
  readonly #flights: TokenFlights;
  readonly #hooks: ServingHooks;
  /** The listening server, the socket inode it linked into place, and its clients. */
  #server: Server | undefined;
  #inode: Inode | undefined;
  /** The timer of the ownership check (see OWNERSHIP_CHECK_INTERVAL). */
  #ownership: ReturnType<typeof setInterval> | undefined;
  readonly #clients = new Set<Connection>();
  /** Closing as leader: waiting for the successor to take the socket over (see handOver). */
  #handingOver = false;

  constructor(peer: SharingPeer, path: string, answerTimeout: number, store: TokenStore, flights: TokenFlights, hooks: ServingHooks) {
    this.#peer = peer;
    this.#path = path;
    this.#answerTimeout = answerTimeout;
    this.#store = store;
    this.#flights = flights;
    this.#hooks = hooks;
  }

  /** Serves `server`, whose socket `inode` this context linked into place, until the file is no longer ours. */
  start(server: Server, inode: Inode): void {
    this.#server = server;
    this.#inode = inode;
    this.#ownership = setInterval(() => this.owns() || this.#hooks.stepDown(), OWNERSHIP_CHECK_INTERVAL);
    this.#ownership.unref();
  }

  /** Whether the socket file at the path is still the one this context linked. */
  owns(): boolean {
    return ownsPath(this.#path, this.#inode);
  }

  /** Stops leading: closes the server and the connections, and deletes the socket file if it is still ours. */
  resign(): void {
    resign(this.#path, this.#server, this.#inode);
    this.#server = undefined;
    this.#inode = undefined;
    clearInterval(this.#ownership);
    this.#ownership = undefined;
    for (const client of this.#clients) client.socket.destroy();
    this.#clients.clear();
  }

  broadcast(message: Outgoing, except?: Connection): void {
    for (const client of this.#clients) if (client !== except) client.send(message);
  }

  /**
   * A leader that closes while clients hold its token asks one of them to take its socket over (`lead`), and keeps
   * answering newcomers with its `state` until one has, for an answer timeout at most. Resigning at once would leave
   * the socket path empty until a client noticed, and a context starting then would lead without the token and
   * request another (seen in CI: 2 token requests for 8 processes of examples/node-process-pool). Two more ways to
   * that empty path are closed here: a context whose connection the kernel had already queued for us (it counts as
   * connected, and would be dropped by the close) is accepted first, and gets our token; and a successor that goes
   * away before it took over (its session closed at the same moment) is followed by the next client.
   */
  async handOver(): Promise<void> {
    if (this.#store.set() === undefined) return;
    this.#handingOver = true;
    try {
      await acceptQueued();
      const started = performance.now();
      const asked = new Set<Connection>();
      let askedAt = Number.NEGATIVE_INFINITY;
      while (this.owns() && performance.now() - started < this.#answerTimeout) {
        // An asked client keeps its connection until it leads (see Asking): a closed one while the file is still ours
        // went away. One that has not taken over after SUCCESSOR_PATIENCE is busy or stopped: the next is asked too.
        const waiting = [...asked].some((client) => !client.socket.destroyed);
        if (!waiting || performance.now() - askedAt >= SUCCESSOR_PATIENCE) {
          const successor = [...this.#clients].find((client) => !asked.has(client) && !client.socket.destroyed);
          if (successor === undefined && !waiting) return;
          if (successor !== undefined) {
            asked.add(successor);
            successor.send({ type: 'lead' });
            askedAt = performance.now();
          }
        }
        await new Promise((resolve) => setTimeout(resolve, HAND_OVER_CHECK_INTERVAL));
      }
    } finally {
      this.#handingOver = false;
    }
  }

  accept(socket: Socket): void {
    socket.unref();
    if (this.#handingOver) {
      // Closing: a newcomer gets the token with our state (and may be asked to succeed us), and reconnects to the
      // successor when we resign.
      const connection = new Connection(socket, () => undefined, () => undefined);
      this.#clients.add(connection);
      socket.on('close', () => this.#clients.delete(connection));
      connection.send(this.#hooks.state());
      return;
    }
    if (!this.#hooks.leading()) {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, (message, from) => this.#fromClient(message, from), (why) => this.#hooks.invalid(why));
    this.#clients.add(connection);
    socket.on('close', () => this.#clients.delete(connection));
    connection.send(this.#hooks.state());
  }

  #fromClient(message: Message, from: Connection): void {
    if (!this.#hooks.leading()) return;
    switch (message.type) {
      case 'state': {
        this.#hooks.learnSignOut(message.epoch, from);
        if (message.token !== undefined && this.#store.take(message.token, message.refreshToken, message.epoch)) {
          // A token newer than ours (this leader is new, and the client had it from the old one): everyone gets it.
          const token = this.#store.latest!;
          if (!this.#peer.receiveToken(token)) this.#hooks.invalid('Ignored a stale token');
          this.broadcast(this.#store.tokenMessage(token), from);
        }
        return;
      }
      case 'request': {
        const { id, rejected } = message;
        this.#hooks.catchUp();
        // A sign-in this request starts shows its prompt in the asker's process (`prompt`), not here.
        const onPrompt = message.prompt === true ? (prompt: SignInPrompt) => from.send(promptMessage(id, prompt)) : undefined;
        (message.signIn === true ? this.#flights.signInShared(onPrompt) : this.#flights.fetchShared(rejected)).then(
          (token) => {
            // A sign-out may have come (on this very connection) while the answer was on its way: the token it
            // ended is never sent with the new epoch. The asker's wait was aborted by that sign-out already.
            if (this.#store.latest?.accessToken !== token.accessToken) from.send(failure(id, new SessionError('aborted', 'The session was cleared')));
            // The end of late answers (SessionCore.fetchToken; its refresh token went out with the broadcast): the
            // asker fails as the callers here do, instead of asking again and starting a second chain. Not a sign-in,
            // whose asker fails it itself and stays signed in.
            else if (message.signIn !== true && isExpired(token, this.#peer.clock.now())) from.send(failure(id, new SessionError('token_expired', 'No unexpired token could be obtained')));
            else from.send({ ...this.#store.tokenMessage(token), id });
          },
          (error: unknown) => {
            if (error === STEPPED_DOWN) return; // the connection is closed: the client asks the new leader
            from.send(failure(id, error));
          },
        );
        return;
      }
      case 'clear':
        if (!this.#hooks.signOut(message.epoch)) return;
        this.broadcast({ type: 'clear', epoch: message.epoch }, from);
        this.#peer.receiveClear();
        return;
      default:
        this.#hooks.invalid('Ignored a message only a leader sends');
    }
  }
}

/**
 * Lets the server accept the connections already queued for it. A client's connect succeeds once the kernel queues
 * it, before the leader's event loop accepts it; the poll that accepts it runs within two turns of the loop (the
 * first turn's poll may have run before this was called).
 */
async function acceptQueued(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}
