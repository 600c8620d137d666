import * as oauth from 'oauth4webapi';
import { SessionError } from '../core/errors.js';
import type { TokenSet } from '../core/token.js';
import { credentialKey } from '../providers/client-credentials.js';
import type { FetchTokenContext, TokenProvider } from '../providers/provider.js';
import { Rotation } from '../providers/rotations.js';
import { tokenSetFromBody } from '../providers/token-request.js';
import { discover, type Endpoint, requestOptions, statusFailure, toSessionError, withoutSecrets, withTimeout } from '../oidc/protocol.js';
import { runDeviceFlow } from './flow.js';
import type { DevicePrompt } from './options.js';
import type { RefreshTokenStore } from './stores/store.js';

export interface DeviceProviderSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
  readonly timeout: number;
  readonly store: RefreshTokenStore;
  readonly onPrompt: (prompt: DevicePrompt) => void;
  readonly pkce?: boolean | undefined;
}

/** The provider of `deviceSignIn`, with what its session needs besides tokens. */
export interface DeviceProvider extends TokenProvider {
  /** Ends a device flow running here (its caller gave up, or the session closed). */
  abortSignIn(): void;
  /**
   * A sign-out reached this process: no token fetched before it is written to the store after it, and the refresh
   * token this process knew is deleted from the store (only that one: another process may have stored a newer
   * grant's).
   */
  signedOut(): void;
  /** The stored refresh token, if any (for revoking it at a sign-out in a process that never read it). */
  stored(): Promise<string | undefined>;
  /** Empties the store whatever it holds (`signOut()`). */
  deleteStored(): Promise<void>;
  /** Revokes `refreshToken` at the provider's revocation endpoint, if it has one. */
  revoke(refreshToken: string, fetch: typeof globalThis.fetch): Promise<void>;
  /**
   * The next sign-in here takes `set` — a grant the person made elsewhere (the command line's browser sign-in, RFC
   * 8252) — instead of running the device flow: stored and shared as the device flow's would be.
   */
  adopt(set: TokenSet): void;
}

/** `expires_in` (s) assumed when a token response has none. */
const DEFAULT_EXPIRES_IN = 3600;

/**
 * The device authorization grant, then the refresh token grant with rotation, for a public client. The refresh token
 * is kept in `store` across runs: read when no process holds one, and each rotated one written before it is handed
 * on (so that a crash leaves the newest, or the one before it — never a spent one kept while the new one is lost,
 * except for a crash between the provider's answer and the write, which costs one reuse and then a clean sign-out).
 */
export function deviceProvider(settings: DeviceProviderSettings): DeviceProvider {
  const { issuer, clientId, scope, timeout, store } = settings;
  const key = credentialKey('device_code', issuer, clientId, scope);
  const client: oauth.Client = { client_id: clientId };
  let rotation: Rotation | undefined;
  /** Bumped by every sign-out that reaches this process: a fetch that started before one writes nothing. */
  let generation = 0;
  /** The refresh token this process last read from or wrote to the store. */
  let known: string | undefined;
  let signInAbort = new AbortController();
  /** A grant made elsewhere, taken by the next sign-in (`adopt`). */
  let adopted: TokenSet | undefined;

  const endpoint = (context: FetchTokenContext, signal: AbortSignal): Endpoint => ({ issuer, fetch: context.fetch, signal, timeout });

  /** Writes `refreshToken` unless a sign-out came since `started`: synchronous, so no sign-out can come in between. */
  const keep = (refreshToken: string, started: number): void => {
    if (generation !== started) throw new SessionError('aborted', 'Signed out while the token was being fetched');
    store.write(refreshToken);
    known = refreshToken;
  };

  const signIn = async (context: FetchTokenContext): Promise<TokenSet> => {
    await store.open(AbortSignal.any([context.signal, signInAbort.signal]));
    const started = generation;
    const signal = AbortSignal.any([context.signal, signInAbort.signal]);
    const given = adopted;
    adopted = undefined;
    let set: TokenSet;
    if (given !== undefined) {
      set = given;
    } else {
      const { response, sentAt } = await runDeviceFlow({ issuer, client, scope, timeout, fetch: context.fetch, clock: context.clock, signal, onPrompt: context.onPrompt ?? settings.onPrompt, pkce: settings.pkce });
      set = tokenSetFromBody(response, sentAt, DEFAULT_EXPIRES_IN);
    }
    if (set.refreshToken === undefined) {
      throw new SessionError('invalid_response', 'The provider issued no refresh token (is offline_access in the scope, or refresh tokens enabled for the client?)');
    }
    keep(set.refreshToken, started);
    // A new grant: its refresh token starts a new chain of rotations in this process.
    rotation = new Rotation(key, set.refreshToken);
    return set;
  };

  /** A refresh under the store's lock: read, sent and written by one process at a time, whatever shares what. */
  const refresh = async (context: FetchTokenContext): Promise<TokenSet> => {
    // Ended by the caller's abort too (a keychain that does not answer): nothing has been sent yet.
    await store.open(AbortSignal.any([context.signal, signInAbort.signal]));
    return store.exclusive === undefined ? refreshHeld(context) : store.exclusive(() => refreshHeld(context), 3 * timeout, context.signal);
  };

  const refreshHeld = async (context: FetchTokenContext): Promise<TokenSet> => {
    const started = generation;
    let sent = context.refreshToken;
    if (sent === undefined) {
      sent = store.read();
      known = sent;
    } else {
      // A process that does not share with us (another rendezvous directory: a cron job without XDG_RUNTIME_DIR, a
      // container, `sudo -u`) may have rotated the stored token since: ours is spent then, and sending it would
      // revoke the grant. What we stored or read ourselves, or what the processes share, is ours; anything else is newer.
      const stored = storedQuietly(store);
      if (stored !== undefined && stored !== sent && stored !== known) {
        sent = stored;
        known = stored;
      }
    }
    if (sent === undefined) throw new SessionError('login_required', 'Not signed in: the session needs a sign-in (signIn())');
    rotation ??= new Rotation(key, sent);
    rotation.offer(sent);
    if (rotation.isSpent(sent)) {
      throw new SessionError('invalid_grant', 'The refresh token was already used and no newer one is known');
    }
    const label = 'The token endpoint';
    const { as, response, sentAt } = await withTimeout(label, timeout, context.signal, async (signal) => {
      const as = await discover(endpoint(context, signal));
      const sentAt = context.clock.now();
      const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), sent, requestOptions(endpoint(context, signal)));
      const failure = statusFailure(response, label, context.clock.now());
      if (failure !== undefined) throw failure;
      return { as, response, sentAt };
    });
    // A 2xx answer spent the token at the provider: marked before the answer is read, never sent again from here.
    const answered = response.ok;
    if (answered) rotation.spend(sent);
    let set: TokenSet;
    try {
      const result = await oauth.processRefreshTokenResponse(as, client, response);
      set = tokenSetFromBody(result, sentAt, DEFAULT_EXPIRES_IN, response.status);
    } catch (error) {
      const failure = withoutSecrets(toSessionError(error, label, context.signal), [sent]);
      if (failure.code === 'invalid_grant') {
        // Dead (revoked, expired, or reused): never read from the store again by any run.
        store.remove(sent);
        throw failure;
      }
      if (!answered) throw failure;
      store.remove(sent);
      throw new SessionError('invalid_grant', `The refresh answer was refused, and the refresh token it spent cannot be sent again: signed out (${failure.message})`, {
        status: failure.status,
        cause: failure,
      });
    }
    const next = set.refreshToken ?? sent;
    // Written before anyone gets the token: a crash from here on leaves the new refresh token stored.
    if (next !== sent) keep(next, started);
    rotation.rotated(sent, next);
    return { token: set.token, refreshToken: next };
  };

  return {
    key,
    canRefresh: true,
    usesRefreshToken: true,
    signsIn: true,
    fetchToken(context) {
      return context.signIn === true ? signIn(context) : refresh(context);
    },
    abortSignIn() {
      signInAbort.abort(new SessionError('aborted', 'The sign-in was aborted'));
      signInAbort = new AbortController();
    },
    signedOut() {
      generation++;
      try {
        if (known !== undefined) store.remove(known);
      } catch {
        // A store that cannot be reached now (a locked keychain): the `signOut()` that caused this deletes it, or says why.
      }
      known = undefined;
    },
    async stored() {
      await store.open();
      return store.read();
    },
    async deleteStored() {
      await store.open();
      store.remove();
      known = undefined;
    },
    adopt(set) {
      adopted = set;
    },
    async revoke(refreshToken, fetch) {
      const label = 'The revocation endpoint';
      await withTimeout(label, timeout, undefined, async (signal) => {
        const where: Endpoint = { issuer, fetch, signal, timeout };
        const as = await discover(where);
        if (as.revocation_endpoint === undefined) return;
        try {
          const response = await oauth.revocationRequest(as, client, oauth.None(), refreshToken, { ...requestOptions(where), additionalParameters: { token_type_hint: 'refresh_token' } });
          await oauth.processRevocationResponse(response);
        } catch (error) {
          throw withoutSecrets(toSessionError(error, label, signal), [refreshToken]);
        }
      });
    },
  };
}

/** The stored refresh token, or undefined when there is none or it cannot be read now (the running session's own is used). */
function storedQuietly(store: RefreshTokenStore): string | undefined {
  try {
    return store.read();
  } catch {
    return undefined;
  }
}
