import { chmodSync, linkSync, lstatSync, renameSync } from 'node:fs';
import { connect as connectSocket, createServer, type Server, type Socket } from 'node:net';
import {
  codeOf,
  type FileIdentity,
  identityOf,
  isOurs,
  temporaryPath,
  unfitDirectory,
  unlinkIfSame,
  unlinkQuietly,
} from './directory.js';

/**
 * Who leads a credential on this machine: whoever linked the socket file into place. A context connects to it, or
 * becomes it; nothing else decides, so a leader that dies (the kernel closes its socket) or is replaced (its file is
 * no longer the one it linked) is followed by a new election.
 */

/** Connection refusals in a row, on the same socket file, after which the file is taken as stale. */
const STALE_AFTER_REFUSALS = 2;
/** Connect errors in a row (other than refusals and the transient ones) after which this context stops sharing. */
const MAX_CONNECT_FAILURES = 5;
/** Rounds of one election (connect, or bind) before this context stops sharing: about 2.5 s of trying. */
const MAX_ELECTION_ROUNDS = 60;
/** Connect errors that say the leader just died, or is busy: try again (for an answer timeout at most). */
const TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'EAGAIN', 'ETIMEDOUT']);

/** The socket file a leader linked: it leads while the file at the path is this one. */
export interface Inode {
  readonly dev: number;
  readonly ino: number;
}

export type Elected =
  | { readonly role: 'client'; readonly socket: Socket; readonly file: FileIdentity }
  | { readonly role: 'leader'; readonly server: Server; readonly inode: Inode }
  | { readonly role: 'solo'; readonly why: string }
  /** The context closed, or stopped electing, meanwhile: whatever was won is given back. */
  | { readonly role: 'abandoned' };

export interface Ballot {
  readonly dir: string;
  readonly path: string;
  /** Transient connect errors are retried for this long, then the file is taken as its silent leader's. */
  readonly answerTimeout: number;
  /** False once the context closed (or another election took over): stop. */
  electing(): boolean;
  /** A client connected to the server of the leader this election made. */
  accept(socket: Socket): void;
  /**
   * The closing leader chose this context to succeed it, through this socket file: it binds its own and renames it
   * over that one (first round only; when the file changed meanwhile, or the rename fails, an ordinary election).
   */
  readonly succeeding?: FileIdentity | undefined;
}

/** Connects to the leader, or becomes it; the directory is checked again first, every round. */
export async function elect(ballot: Ballot): Promise<Elected> {
  const { path } = ballot;
  let refusals = 0;
  let refused: string | undefined;
  let failures = 0;
  let transientSince: number | undefined;
  let lastError: string | undefined;
  if (ballot.succeeding !== undefined && identityOf(path)?.id === ballot.succeeding.id) {
    const led = await tryLead(ballot, ballot.succeeding);
    if (led.kind === 'led') {
      if (ballot.electing()) return { role: 'leader', server: led.server, inode: led.inode };
      resign(path, led.server, led.inode);
      return { role: 'abandoned' };
    }
  }
  for (let attempt = 0; ; attempt++) {
    if (!ballot.electing()) return { role: 'abandoned' };
    const unfit = unfitDirectory(ballot.dir);
    if (unfit !== undefined) return { role: 'solo', why: unfit };
    const file = identityOf(path);
    if (file !== undefined && !isOurs(file)) return { role: 'solo', why: 'the socket file belongs to another user' };
    const outcome = file === undefined ? { kind: 'missing' as const } : await tryConnect(path);
    if (outcome.kind === 'connected') {
      if (ballot.electing()) return { role: 'client', socket: outcome.socket, file: file! };
      outcome.socket.destroy();
      return { role: 'abandoned' };
    }
    if (outcome.kind === 'refused') {
      // A leader links its socket into place only once it listens, so a refusal means that nobody listens on that
      // file — unless it was replaced meanwhile. Take it as stale only after repeated refusals on the same file,
      // and delete it only if it still is that file. (Same inode number *and* change time: the kernel reuses the
      // number of a deleted socket for the next one, often at once.)
      refusals = file!.id === refused ? refusals + 1 : 1;
      refused = file!.id;
      if (refusals < STALE_AFTER_REFUSALS) continue;
      unlinkIfSame(path, file);
    } else if (outcome.kind === 'error') {
      lastError = outcome.code;
      if (TRANSIENT.has(outcome.code)) {
        // ECONNRESET: we were in the backlog of a leader that died. EAGAIN for longer than an answer timeout: its
        // backlog is full and it accepts nobody (stopped, or busy): it is replaced like a silent leader.
        transientSince ??= performance.now();
        if (performance.now() - transientSince < ballot.answerTimeout) {
          await pause(Math.min(20, ++failures * 2));
          continue;
        }
        unlinkIfSame(path, file);
      } else if (++failures < MAX_CONNECT_FAILURES) {
        await pause(Math.min(20, failures * 2));
        continue;
      } else {
        return { role: 'solo', why: `cannot connect to the leader (${lastError})` };
      }
    }
    const led = await tryLead(ballot);
    if (led.kind === 'led') {
      if (ballot.electing()) return { role: 'leader', server: led.server, inode: led.inode };
      resign(path, led.server, led.inode);
      return { role: 'abandoned' };
    }
    if (led.kind === 'error') return { role: 'solo', why: `cannot listen on the socket (${led.code})` };
    // Someone else linked first: connect to it (after a breath, growing, if this keeps happening). Something that
    // is neither a socket nor deletable at the path would keep us here: give up after a while.
    if (attempt >= MAX_ELECTION_ROUNDS) return { role: 'solo', why: 'the socket path is taken by something that does not answer' };
    if (attempt > 2) await pause(Math.min(50, attempt * 2));
  }
}

type Connected = { kind: 'connected'; socket: Socket } | { kind: 'missing' | 'refused' } | { kind: 'error'; code: string };

function tryConnect(path: string): Promise<Connected> {
  return new Promise((resolve) => {
    const socket = connectSocket({ path });
    socket.unref();
    const failed = (error: NodeJS.ErrnoException): void => {
      socket.destroy();
      const code = codeOf(error);
      resolve(code === 'ENOENT' ? { kind: 'missing' } : code === 'ECONNREFUSED' || code === 'ENOTSOCK' ? { kind: 'refused' } : { kind: 'error', code });
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      resolve({ kind: 'connected', socket });
    });
  });
}

type Led = { kind: 'led'; server: Server; inode: Inode } | { kind: 'taken' } | { kind: 'error'; code: string };

/**
 * Listens on a temporary name and links the socket into place: `link` fails when the name exists, so exactly one
 * context wins, and it already listens when others can first see it (no refusals between bind and listen). A
 * successor (`replacing`: the closing leader's socket file) renames it over that file instead, unless it changed.
 */
async function tryLead(ballot: Ballot, replacing?: FileIdentity): Promise<Led> {
  const { path } = ballot;
  const temporary = temporaryPath(path);
  const server = createServer((socket) => ballot.accept(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: temporary, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    server.close();
    // Another context's temporary name (48 random bits): as if it had won.
    return codeOf(error) === 'EADDRINUSE' ? { kind: 'taken' } : { kind: 'error', code: codeOf(error) };
  }
  server.unref();
  server.on('error', () => undefined);
  try {
    chmodSync(temporary, 0o600);
    if (replacing === undefined) linkSync(temporary, path);
    else if (identityOf(path)?.id === replacing.id) renameSync(temporary, path);
    else throw Object.assign(new Error('the leader changed'), { code: 'EEXIST' });
    const stats = lstatSync(path);
    // The server keeps the inode alive; closing it unlinks the temporary name only (gone already), never the link.
    unlinkQuietly(temporary);
    return { kind: 'led', server, inode: { dev: stats.dev, ino: stats.ino } };
  } catch (error) {
    unlinkQuietly(temporary);
    server.close();
    return codeOf(error) === 'EEXIST' ? { kind: 'taken' } : { kind: 'error', code: codeOf(error) };
  }
}

/** Whether the file at `path` is still the socket `inode` a leader linked (one that took it for stale replaced it). */
export function ownsPath(path: string, inode: Inode | undefined): boolean {
  if (inode === undefined) return false;
  try {
    const stats = lstatSync(path);
    return stats.ino === inode.ino && stats.dev === inode.dev;
  } catch {
    return false;
  }
}

/** Stops leading: closes the server, and deletes the socket file if it is still the one this leader linked. */
export function resign(path: string, server: Server | undefined, inode: Inode | undefined): void {
  if (ownsPath(path, inode)) unlinkQuietly(path);
  server?.close();
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
