import { HEARTBEAT, type Message } from './protocol.js';

/**
 * Liveness of a leader, as its clients see it. A leader that is alive but silent — its event loop busy with CPU work
 * (a process-pool worker decoding a tile), or the process stopped (SIGSTOP) — keeps its socket: the kernel accepts
 * connections into its backlog and nobody would ever take over. So a leader answers every request at once (with the
 * token, or `busy` and a heartbeat while it requests one), and a client whose request met silence for an answer
 * timeout replaces it, as the browser transport's `answerTimeout` does.
 *
 * Why not keep the socket answerable from a worker thread while the main thread computes: a stopped process stops
 * every thread, so the timeout is needed anyway; and the token request itself is the session's provider, which runs
 * on the main thread, so a worker could only hand out a token that is still good — not the one a follower inside
 * its refresh margin needs. One mechanism covers both, for the price of at most one more token request.
 *
 * Durations use `performance.now()`, not the session's clock: a clock stepped back must not make a leader look
 * silent or alive.
 */
export class LeaderWatch {
  #heardAt = performance.now();
  #requesting = false;
  #spoke = false;

  /** The leader said something: it is alive. `busy` says a token request of its own is under way. */
  heard(message: Message): void {
    this.#heardAt = performance.now();
    this.#spoke = true;
    if (message.type === 'busy') this.#requesting = true;
    else if (message.type === 'token' || message.type === 'failed' || message.type === 'clear') this.#requesting = false;
  }

  /** A new leader: nothing heard of it yet but the connection itself. */
  reset(): void {
    this.#heardAt = performance.now();
    this.#requesting = false;
    this.#spoke = false;
  }

  /**
   * Whether it said anything yet (a leader sends its `state` as it accepts): one that never did (stopped before it
   * accepted us) may be in the middle of a rotation as well as idle — nothing tells.
   */
  get spoke(): boolean {
    return this.#spoke;
  }

  /**
   * True when its last word was that it requests a token and it never said how that ended: with a rotating refresh
   * token, it may be in the middle of a rotation, and sending the same refresh token again would revoke the grant.
   */
  get requesting(): boolean {
    return this.#requesting;
  }

  /** Whether a request sent at `askedAt` (performance.now()) met silence for `answerTimeout` ms. */
  silent(askedAt: number, answerTimeout: number): boolean {
    return performance.now() - Math.max(this.#heardAt, askedAt) >= answerTimeout;
  }
}

/** Says `busy` now and every `HEARTBEAT` ms until the returned function is called. */
export function heartbeat(say: () => void): () => void {
  say();
  const timer = setInterval(say, HEARTBEAT);
  timer.unref();
  return () => clearInterval(timer);
}

/** How often (ms) a client checks its leader's silence while it waits: a quarter of the answer timeout. */
export function watchInterval(answerTimeout: number): number {
  return Math.max(HEARTBEAT / 4, Math.floor(answerTimeout / 4));
}
