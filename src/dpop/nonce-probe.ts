import { rememberNewest } from './nonces.js';
/**
 * The first call to an API whose nonce nobody knows yet (RFC 9449 §9): sent by one caller, the probe, while the
 * others of this context — and, with a Web Lock, of every context of the origin — wait for its answer and then use
 * the nonce it kept. Without this, calls that leave together before any nonce is known are each challenged: a sign-in
 * with 8 tabs paid 8 API round trips for one nonce.
 */

/** The longest a first call waits for another's probe (ms): a probe that hangs or dies costs the others no more. */
export const NONCE_PROBE_WAIT = 5_000;

/** Coordinates the first calls of a context (and of the origin, with `lockName`) to each API server. */
export interface NonceProbes {
  /**
   * Resolves when a call to `server` may leave, with `done`, to call once its answer was read (its nonce kept). A
   * call waits only while this context has never called `server`, has no nonce of it, and another call is probing
   * it; the wait ends with that probe's answer, at `NONCE_PROBE_WAIT`, or when `signal` aborts.
   */
  before(server: string, signal?: AbortSignal | null): Promise<() => void>;
}

export interface NonceProbeSettings {
  /** Whether a nonce of `server` is kept (a call then leaves with it, and never waits). */
  known(server: string): Promise<boolean>;
  /**
   * The Web Lock that tells every context of the origin who probes `server`, where the nonces are kept for all of
   * them (a browser's IndexedDB). Without it (or without `navigator.locks`), the probe is this context's only.
   */
  lockName?: ((server: string) => string) | undefined;
  /** Default `NONCE_PROBE_WAIT`. */
  wait?: number | undefined;
}

const nothing = (): void => undefined;

export function nonceProbes(settings: NonceProbeSettings): NonceProbes {
  const { known, lockName, wait = NONCE_PROBE_WAIT } = settings;
  /** Servers this context has called (answered or not): their calls never wait again. */
  const called = new Map<string, true>();
  /** The probe of this context under way, by server: its other first calls wait for it. */
  const probing = new Map<string, Promise<void>>();
  const remember = (server: string): void => rememberNewest(called, server, true);
  return {
    async before(server, signal) {
      if (called.has(server)) return nothing;
      const local = probing.get(server);
      if (local === undefined && (await known(server).catch(() => false))) {
        remember(server);
        return nothing;
      }
      // Read again: another first call may have started probing while the store answered.
      const probe = local ?? probing.get(server);
      if (probe !== undefined) {
        await bounded(probe, wait, signal);
        return nothing;
      }
      let ended!: () => void;
      probing.set(server, new Promise<void>((resolve) => (ended = resolve)));
      const end = (): void => {
        remember(server);
        probing.delete(server);
        ended();
      };
      const locks = lockName === undefined ? undefined : lockManager();
      if (locks === undefined) return once(end);
      const name = lockName!(server);
      const release = await holdIfFree(locks, name, wait);
      if (release !== undefined) {
        return once(() => {
          release();
          end();
        });
      }
      // Another context probes: its answer's nonce is in the shared store when it lets go of the lock.
      await released(locks, name, wait, signal);
      end();
      return nothing;
    },
  };
}

function once(run: () => void): () => void {
  let ran = false;
  return () => {
    if (ran) return;
    ran = true;
    run();
  };
}

/** Waits for `promise`, at most `wait` ms, and no longer than `signal` lets it. Never rejects. */
async function bounded(promise: Promise<void>, wait: number, signal: AbortSignal | null | undefined): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, wait);
      onAbort = resolve;
      if (signal?.aborted === true) resolve();
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  ]);
  clearTimeout(timer);
  if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
}

function lockManager(): LockManager | undefined {
  return (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
}

/**
 * Takes the lock `name` if no context holds it, for the probe: resolves with its release, or `undefined` when
 * another context holds it. Held `wait` ms at most (the others wait no longer anyway), and released by the browser
 * when the context ends (a killed tab). A lock manager that refuses lets the probe go unannounced.
 */
function holdIfFree(locks: LockManager, name: string, wait: number): Promise<(() => void) | undefined> {
  return new Promise((resolve) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (lock === null) {
          resolve(undefined);
          return undefined;
        }
        return new Promise<void>((release) => {
          const timer = setTimeout(release, wait);
          resolve(() => {
            clearTimeout(timer);
            release();
          });
        });
      })
      .catch(() => resolve(nothing));
  });
}

/** Waits until the probe of another context lets go of `name` (taking it shared, at once given back), bounded. */
async function released(locks: LockManager, name: string, wait: number, signal: AbortSignal | null | undefined): Promise<void> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), wait);
  const onAbort = (): void => stop.abort();
  if (signal?.aborted === true) stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await locks.request(name, { mode: 'shared', signal: stop.signal }, () => undefined);
  } catch {
    // Given up at the bound (or aborted): the call goes on alone, and at worst meets the challenge itself.
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
