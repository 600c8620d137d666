import { systemClock } from './clock.js';
import { SessionError } from './errors.js';
import { DEFAULT_REFRESH_BEFORE_EXPIRY, type GetTokenOptions, type SessionOptions } from './options.js';
import { SessionCore, type SessionEvents } from './session-core.js';
import { defaultSharing } from './sharing/default.js';
import type { Sharing } from './sharing/sharing.js';
import type { Token } from './token.js';

/** One credential's session, as the app sees it. Cheap: handles for one credential share one core. */
export interface Session {
  /** The credential key (public parts only). */
  readonly key: string;
  /** True while this context is the one that refreshes for everyone. */
  readonly isLeader: boolean;
  /** A token valid for at least the refresh margin (or `minValidity`). Authenticates on first use. */
  getToken(options?: GetTokenOptions): Promise<Token>;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void;
  /** Signs out everywhere: drops the token here and in every context that shares it. */
  clear(): Promise<void>;
  /** Releases this handle; the shared state goes when the last handle for the credential is closed. */
  close(): Promise<void>;
}

// One core per credential per transport in this context, like sentinelhub-py's class-level session cache.
const cores = new WeakMap<Sharing, Map<string, SessionCore>>();

/**
 * Creates (or joins) the session for a credential.
 *
 * @example
 * const session = createSession({ provider: clientCredentials({ tokenUrl, clientId, clientSecret }) });
 * const { accessToken } = await session.getToken();
 */
export function createSession(options: SessionOptions): Session {
  const { provider, refreshBeforeExpiry = DEFAULT_REFRESH_BEFORE_EXPIRY, signal } = options;
  if (provider === undefined || typeof provider.fetchToken !== 'function' || typeof provider.key !== 'string') {
    throw new SessionError('invalid_options', 'createSession needs a provider, e.g. clientCredentials({ … })');
  }
  if (!Number.isFinite(refreshBeforeExpiry) || refreshBeforeExpiry < 0) {
    throw new SessionError('invalid_options', 'refreshBeforeExpiry must be a finite number of ms ≥ 0');
  }
  const sharing = options.sharing ?? defaultSharing();
  let byKey = cores.get(sharing);
  if (byKey === undefined) cores.set(sharing, (byKey = new Map()));
  let core = byKey.get(provider.key);
  if (core === undefined) {
    const fetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
    const created = new SessionCore(
      { provider, sharing, refreshBeforeExpiry, clock: options.clock ?? systemClock, fetch },
      () => {
        if (byKey.get(provider.key) === created) byKey.delete(provider.key);
      },
    );
    byKey.set(provider.key, (core = created));
  }
  return createHandle(core, refreshBeforeExpiry, signal);
}

function createHandle(core: SessionCore, refreshBeforeExpiry: number, signal: AbortSignal | undefined): Session {
  core.retain();
  const unsubscribers = new Set<() => void>();
  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw new SessionError('closed', 'The session was closed');
  };

  const session: Session = {
    key: core.settings.provider.key,
    get isLeader() {
      return core.leading;
    },
    async getToken({ forceRefresh = false, minValidity, rejected, signal: callSignal } = {}) {
      assertOpen();
      return core.getToken(
        { refreshBeforeExpiry, minValidity, rejected: forceRefresh ? (core.token?.accessToken ?? rejected) : rejected },
        callSignal,
      );
    },
    on(event, listener) {
      assertOpen();
      const off = core.events.on(event, listener);
      unsubscribers.add(off);
      return () => {
        off();
        unsubscribers.delete(off);
      };
    },
    async clear() {
      assertOpen();
      await core.clear();
    },
    async close() {
      if (closed) return;
      closed = true;
      signal?.removeEventListener('abort', onAbort);
      for (const off of unsubscribers) off();
      await core.release();
    },
  };
  const onAbort = (): void => void session.close();
  if (signal?.aborted) void session.close();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return session;
}
