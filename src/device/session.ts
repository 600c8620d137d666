import type { DPoPRequest, SessionDPoP } from '../core/dpop.js';
import { join } from 'node:path';
import { hashKey } from '../core/digest.js';
import { abortError, isSessionError, SessionError } from '../core/errors.js';
import { openSession, sharedRefreshToken, signInSession, type Session } from '../core/session.js';
import type { Token, TokenSet } from '../core/token.js';
import { requireString } from '../providers/client-credentials.js';
import { issuerUrl } from '../oidc/protocol.js';
import { localSharing } from '../sharing/local/sharing.js';
import type { Sharing } from '../sharing/sharing.js';
import type { DevicePrompt, DeviceSession, DeviceSignInCallOptions, DeviceSignInOptions, DeviceTokenStore } from './options.js';
import { type DeviceProvider, deviceProvider } from './provider.js';
import { configDirectory } from './stores/config-directory.js';
import { fileStore } from './stores/file-store.js';
import { keychainStore } from './stores/keychain-store.js';
import { memoryStore, type RefreshTokenStore } from './stores/store.js';

const DEFAULT_SCOPE = 'openid offline_access';
const DEFAULT_TIMEOUT = 10_000;
const MAX_DURATION = 2_147_483_647;

// One provider per credential and transport in this process: the `deviceSignIn`s of one credential on one transport
// share one session core, which keeps the provider it was created with (its store, its prompt, its rotations).
const providers = new WeakMap<Sharing, Map<string, DeviceProvider>>();

/**
 * Signs a person in with the OAuth device authorization grant (RFC 8628) — for command lines and batch jobs, where no
 * browser runs the app — once for every process of this user on this machine and across runs: the refresh token is
 * kept in the OS keychain or a file only this user can read, and the session is shared with `localSharing`.
 *
 * @example
 * import { deviceSignIn } from 'shared-session/node';
 * const session = deviceSignIn({
 *   issuer: 'https://identity.dataspace.copernicus.eu/auth/realms/CDSE',
 *   clientId: 'openeo-platform-default-client',
 *   onPrompt: ({ verificationUriComplete, verificationUri, userCode }) =>
 *     console.error(`Open ${verificationUriComplete ?? verificationUri} and enter ${userCode}`),
 * });
 * await session.signIn(); // at once when a stored sign-in or another process has one
 * const { accessToken } = await session.getToken();
 */
export function deviceSignIn(options: DeviceSignInOptions): DeviceSession {
  const { issuer, clientId, scope = DEFAULT_SCOPE, timeout = DEFAULT_TIMEOUT, onPrompt = printPrompt } = options;
  requireString('issuer', issuer);
  requireString('clientId', clientId);
  requireString('scope', scope);
  issuerUrl(issuer);
  if (!(Number.isInteger(timeout) && timeout > 0 && timeout <= MAX_DURATION)) {
    throw new SessionError('invalid_options', `timeout must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  if (typeof onPrompt !== 'function') throw new SessionError('invalid_options', 'onPrompt must be a function');
  const { pkce = false } = options;
  if (typeof pkce !== 'boolean') throw new SessionError('invalid_options', 'pkce must be a boolean');
  const sharing = options.sharing ?? localSharing();
  const probe = deviceProvider({ issuer, clientId, scope, timeout, store: memoryStore(), onPrompt, pkce });
  let byKey = providers.get(sharing);
  if (byKey === undefined) providers.set(sharing, (byKey = new Map()));
  let provider = byKey.get(probe.key);
  if (provider === undefined) {
    provider = deviceProvider({ issuer, clientId, scope, timeout, store: storeFor(options.store ?? 'file', probe.key), onPrompt, pkce });
    byKey.set(provider.key, provider);
  }
  const session = openSession(
    {
      provider,
      sharing,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: options.refreshBeforeExpiry }),
    },
    sharing,
  );
  const handle = new DeviceSessionHandle(session, provider, options.fetch, onPrompt);
  adoptable.set(handle, { session, provider });
  return handle;
}

// What `adoptSignIn` needs of a handle, kept out of the handle's own properties (no public name).
const adoptable = new WeakMap<DeviceSession, { session: Session; provider: DeviceProvider }>();

/**
 * Signs `deviceSession` in with a grant the person made elsewhere — the command line's browser sign-in (RFC 8252
 * loopback redirect) — instead of the device flow: its refresh token is stored and the session shared as after a
 * device sign-in. For `shared-session login --browser`; not re-exported by any entry.
 */
export async function adoptSignIn(deviceSession: DeviceSession, set: TokenSet): Promise<Token> {
  const found = adoptable.get(deviceSession);
  if (found === undefined) throw new SessionError('closed', 'Not an open device session');
  found.provider.adopt(set);
  return alive(await signInSession(found.session, { signOutFirst: false }));
}

/**
 * The token a sign-in hands the app: never an expired one. A sign-in answered late every time (SessionCore.fetchToken)
 * is signed in, its grant kept for the next call, but its token is dead: `token_expired`, as `getToken` fails then.
 */
function alive(token: Token): Token {
  if (token.expiresAt <= Date.now()) throw new SessionError('token_expired', 'No unexpired token could be obtained');
  return token;
}

/** The store an option names; the keychain account and the file name are a digest of the credential key. */
function storeFor(store: DeviceTokenStore, key: string): RefreshTokenStore {
  if (store === false) return memoryStore();
  const name = `device-${hashKey(key)}`;
  if (store === 'keychain') return keychainStore(name);
  const credential = hashKey(key);
  if (store === 'file') return fileStore(join(configDirectory(), 'shared-session', `${name}.json`), credential);
  if (typeof store === 'object' && store !== null && typeof store.path === 'string' && store.path !== '') return fileStore(store.path, credential);
  throw new SessionError('invalid_options', "store must be 'keychain', 'file', { path } or false");
}

/** The default `onPrompt`: to stderr, so that a script's stdout stays its own (`shared-session token`). */
function printPrompt({ verificationUri, verificationUriComplete, userCode }: DevicePrompt): void {
  const where = verificationUriComplete ?? verificationUri;
  process.stderr.write(`To sign in, open ${where} and confirm the code ${userCode}\n`);
}

class DeviceSessionHandle implements DeviceSession {
  readonly #session: Session;
  readonly #provider: DeviceProvider;
  readonly #fetch: typeof globalThis.fetch | undefined;
  /** This handle's `onPrompt`: a sign-in its `signIn()` starts shows its code here, whichever process runs it. */
  readonly #onPrompt: (prompt: DevicePrompt) => void;
  readonly #offCleared: () => void;
  /** Bumped when a sign-in of this handle is ended on purpose (its signal, `signOut()`): it is not asked again. */
  #ended = 0;

  constructor(session: Session, provider: DeviceProvider, fetch: typeof globalThis.fetch | undefined, onPrompt: (prompt: DevicePrompt) => void) {
    this.#session = session;
    this.#provider = provider;
    this.#fetch = fetch;
    this.#onPrompt = onPrompt;
    // A sign-out in any process: the refresh token this process knew goes from the store, and a rotation under way
    // here is not written after it.
    this.#offCleared = session.on('cleared', (origin) => {
      if (origin === 'remote') provider.signedOut();
    });
  }

  get key(): string {
    return this.#session.key;
  }

  get isLeader(): boolean {
    return this.#session.isLeader;
  }

  /** The session's DPoP signer: `undefined`, the device sign-in has no `dpop` option yet. */
  get dpop(): SessionDPoP | undefined {
    return this.#session.dpop;
  }

  dpopProof(request: DPoPRequest): Promise<string> {
    return this.#session.dpopProof(request);
  }

  async signIn({ signal }: DeviceSignInCallOptions = {}): Promise<Token> {
    if (signal?.aborted) throw abortError(signal);
    const onAbort = (): void => {
      this.#ended++;
      this.#provider.abortSignIn();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await raceAbort(this.#signIn(), signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #signIn(): Promise<Token> {
    const ended = this.#ended;
    // Signed in already: by a stored refresh token, or by another process.
    try {
      return await this.#session.getToken();
    } catch (error) {
      // `timeout`: the leader held the request past the transport's timeout, as it does while a sign-in of another
      // process waits for the person (a token request joins it); joined again below, bounded by the code's life.
      if (!isSessionError(error, 'login_required') && !isSessionError(error, 'invalid_grant') && !isSessionError(error, 'timeout')) throw error;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return alive(await signInSession(this.#session, { signOutFirst: false, onPrompt: this.#onPrompt }));
      } catch (error) {
        // A sign-out that a dead refresh token caused (told to every process a moment after the failure) may
        // overtake this sign-in's request: asked once more.
        if (attempt > 0 || !isSessionError(error, 'aborted') || this.#ended !== ended) throw error;
      }
    }
  }

  getToken(...args: Parameters<Session['getToken']>): Promise<Token> {
    return this.#session.getToken(...args);
  }

  async signOut(): Promise<void> {
    // The newest one: what the processes share, else what a run before this one stored.
    const refreshToken = (await sharedRefreshToken(this.#session).catch(() => undefined)) ?? (await this.#provider.stored().catch(() => undefined));
    await this.#session.clear();
    this.#ended++;
    this.#provider.abortSignIn();
    this.#provider.signedOut();
    await this.#provider.deleteStored();
    if (refreshToken !== undefined) await this.#provider.revoke(refreshToken, this.#fetch ?? ((input, init) => globalThis.fetch(input, init)));
  }

  on: Session['on'] = (event, listener) => this.#session.on(event, listener);
  subscribe: Session['subscribe'] = (listener) => this.#session.subscribe(listener);
  getSnapshot: Session['getSnapshot'] = () => this.#session.getSnapshot();

  clear(): Promise<void> {
    return this.signOut();
  }

  async close(): Promise<void> {
    this.#offCleared();
    await this.#session.close();
  }
}

/** `promise`, or the abort's error as soon as `signal` aborts (the promise is still observed). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
