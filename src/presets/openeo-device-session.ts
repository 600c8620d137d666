import { SessionError, type GetTokenOptions, type Session, type SessionSnapshot, type SnapshotListener, type Token } from '../index.js';
import type { DeviceSession, DeviceSignInCallOptions } from '../node.js';
import type { OpenEODeviceOptions } from './openeo-types.js';

/*
 * The session of `openEO({ signIn: 'device' })` (made by `#openeo-device`, Node and Deno only). `openEO` returns at
 * once, but the device sign-in can only be made once the back-end said where to sign in (`GET /credentials/oidc`).
 * Until then this handle answers as a signed-out session; then it passes everything to the device sign-in — and
 * signs the person in when a token is asked for and no process has one.
 */

/** What the `#openeo-device` module makes: the device sign-in, and the provider id its tokens are for. */
export interface OpenEODeviceSignIn {
  readonly session: DeviceSession;
  readonly providerId: string;
}

/** The settings the `#openeo-device` module takes. */
export type OpenEODeviceSettings = Omit<OpenEODeviceOptions, 'url' | 'signIn' | 'client' | 'bearer' | 'signal'> & {
  readonly url: string;
  readonly fetch: typeof globalThis.fetch;
};

const SIGNED_OUT: SessionSnapshot = Object.freeze({ signedIn: false, user: undefined });

type Attached = { readonly attach: (session: DeviceSession) => () => void; detach?: () => void };

export class OpenEODeviceSessionHandle implements DeviceSession {
  readonly #load: () => Promise<OpenEODeviceSignIn>;
  readonly #key: string;
  #loaded: OpenEODeviceSignIn | undefined;
  #loading: Promise<OpenEODeviceSignIn> | undefined;
  readonly #attached = new Set<Attached>();
  #closed = false;
  /** A token was had through this handle: a sign-out after it (anywhere) is not undone by a token request. */
  #hadToken = false;
  #signedOut = false;

  constructor(url: string, load: () => Promise<OpenEODeviceSignIn>) {
    this.#key = `openeo_device|${url}`;
    this.#load = load;
    // Signed out anywhere (a `shared-session logout`, a dead refresh token): this handle does not prompt again by itself.
    this.#attach((session) => session.on('cleared', () => (this.#signedOut ||= this.#hadToken)));
  }

  /** The device sign-in's credential key once known; before, the back-end's (`openeo_device|<url>`). */
  get key(): string {
    return this.#loaded?.session.key ?? this.#key;
  }

  get isLeader(): boolean {
    return this.#loaded?.session.isLeader ?? false;
  }

  readonly dpop = undefined;

  /** The id of the back-end's OIDC provider the person signs in with (read from `GET /credentials/oidc`). */
  async providerId(signal?: AbortSignal): Promise<string> {
    return (await this.#ready(signal)).providerId;
  }

  async getToken(options?: GetTokenOptions): Promise<Token> {
    const { session } = await this.#ready(options?.signal);
    // The first token: a stored sign-in, another process's, or the device flow (joined when one is under way). After
    // a sign-out, `login_required` until `signIn()`: a logout stops a running batch instead of prompting it again.
    if (!this.#hadToken && !this.#signedOut) {
      await session.signIn(options?.signal === undefined ? {} : { signal: options.signal });
      this.#hadToken = true;
    }
    return session.getToken(options);
  }

  async signIn(options?: DeviceSignInCallOptions): Promise<Token> {
    const { session } = await this.#ready(options?.signal);
    const token = await session.signIn(options);
    this.#signedOut = false;
    this.#hadToken = true;
    return token;
  }

  async signOut(): Promise<void> {
    const { session } = await this.#ready(undefined);
    this.#signedOut = true;
    await session.signOut();
  }

  clear(): Promise<void> {
    return this.signOut();
  }

  async dpopProof(request: Parameters<Session['dpopProof']>[0]): Promise<string> {
    return (await this.#ready(undefined)).session.dpopProof(request);
  }

  on: Session['on'] = (event, listener) => this.#attach((session) => session.on(event, listener));

  subscribe(listener: SnapshotListener): () => void {
    if (this.#loaded === undefined) listener(SIGNED_OUT);
    return this.#attach((session) => session.subscribe(listener));
  }

  getSnapshot(): SessionSnapshot {
    return this.#loaded?.session.getSnapshot() ?? SIGNED_OUT;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const loaded = this.#loaded ?? (await this.#loading?.catch(() => undefined));
    for (const entry of this.#attached) entry.detach?.();
    this.#attached.clear();
    await loaded?.session.close();
  }

  /** Runs `attach` on the device sign-in now, or when it is made; returns what undoes it. */
  #attach(attach: (session: DeviceSession) => () => void): () => void {
    const entry: Attached = { attach };
    this.#attached.add(entry);
    if (this.#loaded !== undefined) entry.detach = attach(this.#loaded.session);
    return () => {
      this.#attached.delete(entry);
      entry.detach?.();
    };
  }

  #ready(signal: AbortSignal | undefined): Promise<OpenEODeviceSignIn> {
    if (this.#closed) return Promise.reject(new SessionError('closed', 'The session was closed'));
    if (signal?.aborted) return Promise.reject(new SessionError('aborted', 'The call was aborted', { cause: signal.reason }));
    if (this.#loaded !== undefined) return Promise.resolve(this.#loaded);
    const loading = (this.#loading ??= this.#load().then(
      async (loaded) => {
        if (this.#closed) {
          await loaded.session.close();
          throw new SessionError('closed', 'The session was closed');
        }
        this.#loaded = loaded;
        for (const entry of this.#attached) entry.detach = entry.attach(loaded.session);
        return loaded;
      },
      (error: unknown) => {
        // Discovery failed (the back-end unreachable, a typo in providerId): the next call tries again.
        this.#loading = undefined;
        throw error;
      },
    ));
    return signal === undefined ? loading : raceAbort(loading, signal);
  }
}

/** `promise`, or `aborted` as soon as `signal` aborts (the promise goes on for the next caller). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new SessionError('aborted', 'The call was aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
