import { SessionError } from '../../core/errors.js';
import type { SignInPrompt } from '../../core/prompt.js';
import type { Token } from '../../core/token.js';

/** A caller of `obtain` in a context that is not the leader (or not yet), waiting for the leader's answer. */
export interface Waiter {
  readonly id: number;
  readonly rejected: string | undefined;
  /** A sign-in (`obtainHere`) rather than a token. */
  readonly signIn: boolean;
  /** With `signIn`: shows the person the prompt of a sign-in this waiter starts. */
  readonly onPrompt: ((prompt: SignInPrompt) => void) | undefined;
  /** The sign-out epoch when it started waiting: a sign-out after this aborts it. */
  readonly since: number;
  /** When it was last sent to a leader (performance.now()), for the leader's silence. */
  askedAt: number;
  settle(outcome: Token | Error): void;
}

/**
 * The callers of one context waiting for a leader's answer, each bounded by `timeout`. While any waits, a ref'd
 * timer keeps the process alive (every socket and server of the transport is unref'd) and runs `watch` — the check
 * of the leader's silence — every `watchEvery` ms.
 */
export class Waiters {
  readonly #waiting = new Map<number, Waiter>();
  readonly #timeout: number;
  readonly #watch: () => void;
  readonly #watchEvery: number;
  #nextId = 0;
  #alive: ReturnType<typeof setInterval> | undefined;

  constructor(timeout: number, watch: () => void, watchEvery: number) {
    this.#timeout = timeout;
    this.#watch = watch;
    this.#watchEvery = watchEvery;
  }

  /**
   * A new waiter, settled by the returned promise; `timeout` after now (or `signInTimeout` for a sign-in, which waits
   * for a person) it fails as `timeout`.
   */
  add(
    rejected: string | undefined,
    since: number,
    signIn = false,
    signInTimeout = this.#timeout,
    onPrompt?: (prompt: SignInPrompt) => void,
  ): { waiter: Waiter; answer: Promise<Token> } {
    let waiter!: Waiter;
    const answer = new Promise<Token>((resolve, reject) => {
      const id = this.#nextId++;
      const timer = setTimeout(
        () => waiter.settle(new SessionError('timeout', 'Timed out waiting for the leader to get the token')),
        signIn ? Math.max(this.#timeout, signInTimeout) : this.#timeout,
      );
      waiter = {
        id,
        rejected,
        signIn,
        onPrompt,
        since,
        askedAt: performance.now(),
        settle: (outcome) => {
          if (!this.#waiting.delete(id)) return;
          clearTimeout(timer);
          this.#keepAlive();
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      this.#waiting.set(id, waiter);
      this.#keepAlive();
    });
    return { waiter, answer };
  }

  get(id: number): Waiter | undefined {
    return this.#waiting.get(id);
  }

  all(): Waiter[] {
    return [...this.#waiting.values()];
  }

  /** Settles every waiter with `error`. */
  fail(error: Error, which: (waiter: Waiter) => boolean = () => true): void {
    for (const waiter of this.all()) if (which(waiter)) waiter.settle(error);
  }

  #keepAlive(): void {
    if (this.#waiting.size > 0) {
      this.#alive ??= setInterval(this.#watch, this.#watchEvery);
    } else if (this.#alive !== undefined) {
      clearInterval(this.#alive);
      this.#alive = undefined;
    }
  }
}
