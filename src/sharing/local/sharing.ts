import { chmodSync, linkSync, lstatSync, unlinkSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { connect as connectSocket, createServer, type Server, type Socket } from 'node:net';
import { isSessionError, SessionError } from '../../core/errors.js';
import { boundedByClock, isExpired, isNewer, type Token, type TokenSet } from '../../core/token.js';
import { memorySharing } from '../memory.js';
import type { SharedLink, Sharing, SharingPeer } from '../sharing.js';
import { defaultDirectory, socketPath, unfitDirectory } from './directory.js';
import { decode, encode, isFailureCode, LineReader, type Message, type Outgoing } from './protocol.js';

/** Options of {@link localSharing}. */
export interface LocalSharingOptions {
  /**
   * The rendezvous directory: one Unix domain socket per credential lives there, nothing else. It must be a
   * directory only this user can open (owned by us, mode 0700, not a symlink); it is created when missing. Default:
   * `$XDG_RUNTIME_DIR/shared-session`, else `<os.tmpdir()>/shared-session-<uid>`. Set it when the processes do not
   * share one temporary directory (containers that share a volume, systemd's `PrivateTmp`).
   */
  readonly dir?: string | undefined;
  /**
   * Longest time (ms) `getToken` in a process that is not the leader waits for the leader's answer (its token
   * request included), then `timeout`. Default 60 000.
   */
  readonly timeout?: number | undefined;
}

/** setTimeout overflows past this. */
const MAX_DURATION = 2_147_483_647;
/** Connection refusals in a row, on the same socket inode, after which the socket file is taken as stale. */
const STALE_AFTER_REFUSALS = 2;
/** Connect errors in a row (other than refusals and the transient ones) after which this context stops sharing. */
const MAX_CONNECT_FAILURES = 5;
/** Rounds of one election (connect, or bind) before this context stops sharing: about 2.5 s of trying. */
const MAX_ELECTION_ROUNDS = 60;
/**
 * How often (ms) a leader checks that the socket file is still the one it linked. Two contenders that both took a
 * dead leader's file for stale can race between checking and deleting it (a process paused in between deletes the
 * other's new socket): the one whose file was replaced steps down within this time, and its clients reconnect to the
 * other. It also checks before each token request, so the race never costs a second request.
 */
const OWNERSHIP_CHECK_INTERVAL = 100;
/** Connect errors that say the leader just died, or is busy: try again. */
const TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'EAGAIN', 'ETIMEDOUT']);

interface Settings {
  readonly dir: string | undefined;
  readonly timeout: number;
}

/** A caller of `obtain` in a context that is not the leader (or not yet), waiting for the leader's answer. */
interface Waiter {
  readonly id: number;
  readonly rejected: string | undefined;
  /** When it started waiting (the session's clock): a sign-out after this aborts it. */
  readonly since: number;
  settle(outcome: Token | Error): void;
}

/** Thrown inside a leader that found its socket replaced: the caller asks the new leader instead. */
const STEPPED_DOWN = new SessionError('aborted', 'This context is no longer the leader');

const sharings = new Map<string, Sharing>();

/**
 * Shares one session per credential between every thread and process of one machine that runs as the same user:
 * `worker_threads` (a piscina pool), `child_process.fork` children, `cluster` workers, processes started by a
 * process manager. Pass it as the `sharing` option of `createSession` in each of them.
 *
 * - One Unix domain socket per credential, in a directory only this user can open: whichever context binds it is
 *   the leader (it fetches, refreshes ahead of expiry and answers); the others connect and receive every token.
 *   When the leader exits or is killed (even with SIGKILL), the kernel closes its connections and another context
 *   takes over within milliseconds, adopting the token the others hold.
 * - Nothing is written to disk but the empty socket inode. The refresh token of a rotating grant
 *   (`refreshTokenGrant`) travels over the socket to the other contexts of the same user, so that a new leader
 *   continues the rotation; a spent one is never sent.
 * - On Windows, or when the directory is not safe (another owner, another mode, a symlink) or the socket path too
 *   long, each context keeps its own session in memory, reported once as `sharing_degraded`.
 *
 * @example
 * import { localSharing } from 'shared-session/node';
 * const session = createSession({ provider, sharing: localSharing() }); // in every thread and process
 */
export function localSharing(options: LocalSharingOptions = {}): Sharing {
  const { dir } = options;
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) {
    throw new SessionError('invalid_options', 'dir must be a non-empty string');
  }
  const timeout = options.timeout ?? 60_000;
  if (!Number.isInteger(timeout) || timeout <= 0 || timeout > MAX_DURATION) {
    throw new SessionError('invalid_options', `timeout must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  // One transport per settings in a context, so that sessions created with `localSharing()` each time share a core.
  const id = `${timeout}:${dir ?? ''}`;
  let sharing = sharings.get(id);
  if (sharing === undefined) {
    const settings: Settings = { dir, timeout };
    sharing = { kind: 'local', connect: (peer) => connect(peer, settings) };
    sharings.set(id, sharing);
  }
  return sharing;
}

function connect(peer: SharingPeer, settings: Settings): SharedLink {
  const degraded = (why: string): SharedLink => {
    // Known while `createSession` runs: told a moment later, so that listeners added right after it hear it.
    setTimeout(() => peer.report(new SessionError('sharing_degraded', `localSharing: ${why}; the token is not shared`)), 0);
    return memorySharing().connect(peer);
  };
  if (process.platform === 'win32') return degraded('Windows is not supported');
  const dir = settings.dir ?? defaultDirectory();
  const path = socketPath(dir, peer.key);
  const unfit = unfitDirectory(dir, path);
  if (unfit !== undefined) return degraded(unfit);
  return new LocalLink(peer, path, settings.timeout);
}

/** One end of a connection: line framing and validation. */
class Connection {
  readonly socket: Socket;
  readonly #reader: LineReader;

  constructor(socket: Socket, onMessage: (message: Message, from: Connection) => void, report: (why: string) => void) {
    this.socket = socket;
    this.#reader = new LineReader(
      (line) => {
        const message = decode(line);
        if (message === undefined) report('Ignored a malformed or other-version message on the local socket');
        else onMessage(message, this);
      },
      () => report('Ignored an oversized message on the local socket'),
    );
    socket.on('data', (chunk: Buffer) => this.#reader.push(chunk));
    // A peer that died mid-write: 'close' follows, which is what matters.
    socket.on('error', () => undefined);
  }

  send(message: Outgoing): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encode(message));
  }
}

type Role = 'electing' | 'leader' | 'client' | 'solo' | 'closed';

// A class, not a literal with closures, as the other transports.
class LocalLink implements SharedLink {
  readonly #peer: SharingPeer;
  readonly #path: string;
  readonly #timeout: number;
  #role: Role = 'electing';
  /** Leader: the listening server, the socket inode it linked into place, and its clients. */
  #server: Server | undefined;
  #inode: { dev: number; ino: number } | undefined;
  /** Leader: the timer of the ownership check (see OWNERSHIP_CHECK_INTERVAL). */
  #ownership: ReturnType<typeof setInterval> | undefined;
  readonly #clients = new Set<Connection>();
  /** Client: the connection to the leader. */
  #leader: Connection | undefined;
  /** Tokens issued before this (epoch ms, the latest sign-out seen anywhere) are dead. */
  #clearedAt = 0;
  /** The newest token known here, and the refresh token that came with it (rotating grants only). */
  #latest: Token | undefined;
  #refreshToken: string | undefined;
  /** Leader: the one token request of this context. */
  #flight: Promise<Token> | undefined;
  readonly #waiters = new Map<number, Waiter>();
  #nextId = 0;
  #electing = false;
  #degradedOnce = false;
  /** Set while callers wait: see `#keepAlive`. */
  #alive: ReturnType<typeof setInterval> | undefined;
  /** The code of the last failed connect, listen or link, for the report when this context gives up sharing. */
  #lastError: string | undefined;

  constructor(peer: SharingPeer, path: string, timeout: number) {
    this.#peer = peer;
    this.#path = path;
    this.#timeout = timeout;
    void this.#elect();
  }

  get leading(): boolean {
    return this.#role === 'leader' || this.#role === 'solo';
  }

  load(): Promise<TokenSet | undefined> {
    return Promise.resolve(this.#set());
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

  clear(): Promise<void> {
    const at = this.#peer.clock.now();
    this.#forget(at);
    if (this.#role === 'leader') this.#broadcast({ type: 'clear', at });
    else this.#leader?.send({ type: 'clear', at });
    // Not connected: the sign-out goes with this context's `state` when it connects or leads.
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#role === 'closed') return Promise.resolve();
    const wasLeader = this.#role === 'leader';
    this.#role = 'closed';
    for (const waiter of this.#waiters.values()) waiter.settle(new SessionError('closed', 'The session was closed'));
    this.#leader?.socket.destroy();
    this.#leader = undefined;
    if (wasLeader) this.#resign();
    return Promise.resolve();
  }

  // Election.

  /** Connects to the leader, or becomes it. One election at a time; repeated until one of them works. */
  async #elect(): Promise<void> {
    if (this.#electing) return;
    this.#electing = true;
    try {
      let refusals = 0;
      let refused: string | undefined;
      let failures = 0;
      for (let attempt = 0; this.#role === 'electing'; attempt++) {
        const file = identityOf(this.#path);
        const outcome = file === undefined ? 'missing' : await this.#tryConnect();
        if (outcome === 'connected' || this.#role !== 'electing') return;
        if (outcome === 'refused') {
          // A leader links its socket into place only once it listens, so a refusal means that nobody listens on
          // that file — unless it was replaced meanwhile. Take it as stale only after repeated refusals on the same
          // file, and delete it only if it still is that file. (Same inode number *and* change time: the kernel
          // reuses the number of a deleted socket for the next one, often at once.)
          refusals = file === refused ? refusals + 1 : 1;
          refused = file;
          if (refusals < STALE_AFTER_REFUSALS) continue;
          if (identityOf(this.#path) === file) unlinkQuietly(this.#path);
        } else if (outcome === 'error') {
          // ECONNRESET: we were in the backlog of a leader that died. Anything else a few times in a row: give up.
          if (++failures < MAX_CONNECT_FAILURES || TRANSIENT.has(this.#lastError ?? '')) {
            await this.#pause(Math.min(20, failures * 2));
            continue;
          }
          this.#goSolo(`cannot connect to the leader (${this.#lastError ?? 'error'})`);
          return;
        }
        const led = await this.#tryLead();
        if (led === 'led' || this.#role !== 'electing') return;
        if (led === 'error') {
          this.#goSolo(`cannot listen on the socket (${this.#lastError ?? 'error'})`);
          return;
        }
        // Someone else linked first: connect to it (after a breath, growing, if this keeps happening). Something
        // that is neither a socket nor deletable at the path would keep us here: give up after a while.
        if (attempt >= MAX_ELECTION_ROUNDS) {
          this.#goSolo('the socket path is taken by something that does not answer');
          return;
        }
        if (attempt > 2) await this.#pause(Math.min(50, attempt * 2));
      }
    } finally {
      this.#electing = false;
    }
  }

  #tryConnect(): Promise<'connected' | 'missing' | 'refused' | 'error'> {
    return new Promise((resolve) => {
      const socket = connectSocket({ path: this.#path });
      socket.unref();
      const failed = (error: NodeJS.ErrnoException): void => {
        socket.destroy();
        const code = error.code;
        this.#lastError = code;
        resolve(code === 'ENOENT' ? 'missing' : code === 'ECONNREFUSED' || code === 'ENOTSOCK' ? 'refused' : 'error');
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        if (this.#role !== 'electing') {
          socket.destroy();
          resolve('connected');
          return;
        }
        this.#becomeClient(socket);
        resolve('connected');
      });
    });
  }

  #becomeClient(socket: Socket): void {
    const connection = new Connection(socket, (message) => this.#fromLeader(message), (why) => this.#invalid(why));
    socket.unref();
    this.#role = 'client';
    this.#leader = connection;
    socket.on('close', () => {
      if (this.#leader !== connection) return;
      this.#leader = undefined;
      if (this.#role !== 'client') return;
      // The leader is gone (exited, killed, or stepped down): elect again; waiting requests are sent again.
      this.#role = 'electing';
      void this.#elect();
    });
    connection.send(this.#state());
    for (const waiter of this.#waiters.values()) connection.send({ type: 'request', id: waiter.id, ...(waiter.rejected === undefined ? {} : { rejected: waiter.rejected }) });
  }

  /**
   * Listens on a temporary name and links the socket into place: `link` fails when the name exists, so exactly one
   * context wins, and it already listens when others can first see it (no refusals between bind and listen).
   */
  async #tryLead(): Promise<'led' | 'taken' | 'error'> {
    const temporary = `${this.#path}.${process.pid}${randomDigits()}.tmp`;
    const server = createServer((socket) => this.#accept(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: temporary, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.#lastError = (error as NodeJS.ErrnoException).code;
      server.close();
      return 'error';
    }
    server.unref();
    server.on('error', () => undefined);
    let inode: { dev: number; ino: number };
    try {
      chmodSync(temporary, 0o600);
      linkSync(temporary, this.#path);
      const stats = lstatSync(this.#path);
      inode = { dev: stats.dev, ino: stats.ino };
    } catch (error) {
      unlinkQuietly(temporary);
      server.close();
      this.#lastError = (error as NodeJS.ErrnoException).code;
      return this.#lastError === 'EEXIST' ? 'taken' : 'error';
    }
    // The server keeps the inode alive; closing it unlinks the temporary name only (gone already), never the link.
    unlinkQuietly(temporary);
    if (this.#role !== 'electing') {
      this.#server = server;
      this.#inode = inode;
      this.#resign();
      return 'led';
    }
    this.#server = server;
    this.#inode = inode;
    this.#role = 'leader';
    this.#ownership = setInterval(() => {
      void this.#ownsPath().then((owned) => owned || this.#stepDown());
    }, OWNERSHIP_CHECK_INTERVAL);
    this.#ownership.unref();
    this.#peer.leadershipChanged(true);
    this.#serveWaiters();
    return 'led';
  }

  /** Something unexpected (permissions changed under us…): this context fetches for itself, and says so. */
  #goSolo(why: string): void {
    this.#role = 'solo';
    this.#degraded(`localSharing: ${why}; this context gets its own token`);
    this.#peer.leadershipChanged(true);
    this.#serveWaiters();
  }

  /** Stops leading: closes the server and the connections, and deletes the socket file if it is still ours. */
  #resign(): void {
    const server = this.#server;
    const inode = this.#inode;
    this.#server = undefined;
    this.#inode = undefined;
    clearInterval(this.#ownership);
    this.#ownership = undefined;
    if (inode !== undefined) {
      try {
        const stats = lstatSync(this.#path);
        if (stats.ino === inode.ino && stats.dev === inode.dev) unlinkSync(this.#path);
      } catch {
        // gone already
      }
    }
    server?.close();
    for (const client of this.#clients) client.socket.destroy();
    this.#clients.clear();
  }

  /** Whether the socket file is still the one this leader linked (a context that took it for stale replaced it). */
  async #ownsPath(): Promise<boolean> {
    if (this.#role === 'solo') return true;
    const inode = this.#inode;
    try {
      const stats = await lstat(this.#path);
      return inode !== undefined && stats.ino === inode.ino && stats.dev === inode.dev;
    } catch {
      return false;
    }
  }

  #stepDown(): void {
    if (this.#role !== 'leader') return;
    this.#resign();
    this.#role = 'electing';
    this.#peer.leadershipChanged(false);
    void this.#elect();
  }

  // Leader.

  #accept(socket: Socket): void {
    socket.unref();
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
        this.#signedOutBy(message.clearedAt, from, false);
        if (message.token !== undefined && this.#receive(message.token, message.refreshToken)) {
          // A token newer than ours (this leader is new, and the client had it from the old one): everyone gets it.
          const token = this.#latest!;
          this.#broadcast({ type: 'token', token, ...this.#refreshPart() }, from);
        }
        return;
      }
      case 'request': {
        const { id, rejected } = message;
        this.#fetchShared(rejected).then(
          (token) => from.send({ type: 'token', token, ...this.#refreshPart(), id }),
          (error: unknown) => {
            if (error === STEPPED_DOWN) return; // the connection is closed: the client asks the new leader
            from.send(failure(id, error));
          },
        );
        return;
      }
      case 'clear':
        this.#signedOutBy(message.at, from, true);
        return;
      default:
        this.#invalid('Ignored a message only a leader sends');
    }
  }

  /** A usable token from memory, or from the one token request of this context, shared by every caller. */
  async #fetchShared(rejected: string | undefined): Promise<Token> {
    for (let round = 0; ; round++) {
      const latest = this.#latest;
      if (latest !== undefined && this.#peer.isUsable(latest, rejected)) return latest;
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

  async #refresh(): Promise<Token> {
    // Before each request: a context that took our socket for stale may lead now. Then it fetches, not us.
    if (!(await this.#ownsPath())) {
      this.#stepDown();
      throw STEPPED_DOWN;
    }
    this.#assertOpen();
    const clearedAt = this.#clearedAt;
    const set = await this.#peer.fetchToken(this.#refreshToken);
    const token = set.token;
    if (this.#clearedAt !== clearedAt || token.issuedAt < this.#clearedAt) {
      throw new SessionError('aborted', 'The session was cleared');
    }
    if (isNewer(token, this.#latest)) {
      this.#latest = token;
      if (this.#peer.usesRefreshToken && set.refreshToken !== undefined) this.#refreshToken = set.refreshToken;
    }
    if (this.#role === 'leader') this.#broadcast({ type: 'token', token, ...this.#refreshPart() });
    return token;
  }

  #broadcast(message: Outgoing, except?: Connection): void {
    for (const client of this.#clients) if (client !== except) client.send(message);
  }

  // Client.

  #fromLeader(message: Message): void {
    if (this.#role !== 'client') return;
    switch (message.type) {
      case 'state':
        this.#signedOutBy(message.clearedAt, undefined, false);
        if (message.token !== undefined) this.#accepted(message.token, message.refreshToken, undefined);
        return;
      case 'token':
        this.#accepted(message.token, message.refreshToken, message.id);
        return;
      case 'failed': {
        const { id, code, retryAfter, status, oauthError } = message;
        this.#waiters
          .get(id)
          ?.settle(new SessionError(code, `The leader could not get a token (${code})`, { retryAfter, status, oauthError }));
        return;
      }
      case 'clear':
        this.#signedOutBy(message.at, undefined, true);
        return;
      default:
        this.#invalid('Ignored a message only a client sends');
    }
  }

  /** A token from the leader; `id` when it answers one of our requests. */
  #accepted(received: Token, refreshToken: string | undefined, id: number | undefined): void {
    const token = boundedByClock(received, this.#peer.clock.now());
    if (token.issuedAt < this.#clearedAt) return; // requested before a sign-out that reached us first
    this.#receive(token, refreshToken);
    if (id !== undefined) this.#waiters.get(id)?.settle(token);
    for (const waiter of this.#waiters.values()) if (this.#peer.isUsable(token, waiter.rejected)) waiter.settle(token);
  }

  /** Asks the leader (now, or once connected) and waits for its answer. */
  #ask(rejected: string | undefined): Promise<Token> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const waiter: Waiter = {
        id,
        rejected,
        since: this.#peer.clock.now(),
        settle: (outcome) => {
          if (!this.#waiters.delete(id)) return;
          clearTimeout(timer);
          this.#keepAlive();
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      const timer = setTimeout(
        () => waiter.settle(new SessionError('timeout', 'Timed out waiting for the leader to get the token')),
        this.#timeout,
      );
      this.#waiters.set(id, waiter);
      this.#keepAlive();
      if (this.leading) this.#serve(waiter);
      else this.#leader?.send({ type: 'request', id, ...(rejected === undefined ? {} : { rejected }) });
    });
  }

  /** This context leads now: it serves the callers that were waiting for an answer itself. */
  #serveWaiters(): void {
    for (const waiter of this.#waiters.values()) this.#serve(waiter);
  }

  #serve(waiter: Waiter): void {
    this.#fetchShared(waiter.rejected).then(
      (token) => waiter.settle(token),
      (error: unknown) => {
        // Stepped down: the waiter stays, and is asked of the new leader once connected.
        if (error !== STEPPED_DOWN) waiter.settle(error as Error);
      },
    );
  }

  // Shared state.

  /** Takes `received` as the newest token when it is; true when it was. */
  #receive(received: Token, refreshToken: string | undefined): boolean {
    const now = this.#peer.clock.now();
    const token = boundedByClock(received, now);
    if (token.issuedAt < this.#clearedAt || isExpired(token, now) || !isNewer(token, this.#latest)) {
      // Ours or the same one: nothing to tell.
      return false;
    }
    this.#latest = token;
    if (this.#peer.usesRefreshToken && refreshToken !== undefined) this.#refreshToken = refreshToken;
    if (!this.#peer.receiveToken(token)) this.#invalid('Ignored a stale token');
    return true;
  }

  /**
   * A sign-out at `at` (clamped to our clock) seen elsewhere; `from` is the client that told this leader. When it is
   * news, tokens issued before it are dropped and callers that were waiting before it stop waiting; a leader passes
   * it on. The session here is signed out by a `clear` message, or by the `state` of the other end of a new
   * connection when we hold a token from before it; a sign-out that arrives late, with a state, neither kills a
   * newer token nor aborts a request made after it.
   */
  #signedOutBy(at: number, from: Connection | undefined, live: boolean): void {
    const bounded = Math.min(at, this.#peer.clock.now());
    if (!(bounded > this.#clearedAt)) return;
    const held = this.#latest;
    this.#forget(bounded);
    if (this.#role === 'leader') this.#broadcast({ type: 'clear', at: bounded }, from);
    if (live || (held !== undefined && held.issuedAt < bounded)) this.#peer.receiveClear();
  }

  #forget(at: number): void {
    this.#clearedAt = Math.max(this.#clearedAt, at);
    if (this.#latest !== undefined && this.#latest.issuedAt < this.#clearedAt) {
      this.#latest = undefined;
      this.#refreshToken = undefined;
    }
    // Strictly before, as for tokens: a request made in the sign-out's own millisecond counts as made after it. A
    // context that joined right after a sign-out (the same ms on a fast machine) would otherwise see the first call
    // it made fail as `aborted`, told of the sign-out by the leader's `state`.
    for (const waiter of this.#waiters.values()) {
      if (waiter.since < at) waiter.settle(new SessionError('aborted', 'The session was cleared'));
    }
  }

  /** What this context tells the other end of a new connection. */
  #state(): Outgoing {
    const token = this.#set()?.token;
    return { type: 'state', clearedAt: this.#clearedAt, ...(token === undefined ? {} : { token, ...this.#refreshPart() }) };
  }

  #set(): TokenSet | undefined {
    const latest = this.#latest;
    if (latest === undefined || isExpired(latest, this.#peer.clock.now())) return undefined;
    return this.#refreshToken === undefined ? { token: latest } : { token: latest, refreshToken: this.#refreshToken };
  }

  /** The refresh token, for the messages that carry the token — only for grants that need it after a failover. */
  #refreshPart(): { refreshToken?: string } {
    return this.#peer.usesRefreshToken && this.#refreshToken !== undefined ? { refreshToken: this.#refreshToken } : {};
  }

  // Handles: nothing of this transport keeps a process alive, except a caller waiting for the leader's answer.

  /**
   * Keeps the process alive while a caller waits for a token, whatever the state of the connection (connecting,
   * electing, connected): a ref'd timer, since every socket and server of this transport is unref'd.
   */
  #keepAlive(): void {
    if (this.#waiters.size > 0) {
      this.#alive ??= setInterval(() => undefined, MAX_DURATION);
    } else if (this.#alive !== undefined) {
      clearInterval(this.#alive);
      this.#alive = undefined;
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
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
    if (this.#role === 'closed') throw new SessionError('closed', 'The session was closed');
  }
}

/** The `failed` answer to request `id`: the code, and what says when to ask again. */
function failure(id: number, error: unknown): Outgoing {
  const code = isSessionError(error) ? error.code : 'request_failed';
  const details = isSessionError(error) ? error : undefined;
  return {
    type: 'failed',
    id,
    code: isFailureCode(code) ? code : 'request_failed',
    ...(details?.retryAfter !== undefined && details.retryAfter > 0 ? { retryAfter: details.retryAfter } : {}),
    ...(details?.status === undefined ? {} : { status: details.status }),
    ...(details?.oauthError === undefined ? {} : { oauthError: details.oauthError.slice(0, 200) }),
  };
}

/** What tells one file from the next at the same path: device, inode number and change time (ns). */
function identityOf(path: string): string | undefined {
  try {
    const stats = lstatSync(path, { bigint: true });
    return `${stats.dev}:${stats.ino}:${stats.ctimeNs}`;
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

function randomDigits(): string {
  return String(crypto.getRandomValues(new Uint32Array(1))[0]);
}
