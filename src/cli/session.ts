import { isSessionError, type Token, type TokenSet } from '../index.js';
import { deviceSignIn, localSharing, type DevicePrompt, type DeviceSession } from '../node.js';
import { adoptSignIn } from '../device/session.js';
import type { Profile } from './profiles.js';

/** The profile's session as the commands use it: `deviceSignIn` (`shared-session/node`) over `localSharing`. */
export interface ProfileSession {
  /** The device authorization grant; resolves when the person approved (at once when signed in already). */
  signIn(options: { onPrompt: (prompt: DevicePrompt) => void; signal: AbortSignal }): Promise<Token>;
  /** Takes a sign-in made in the browser (the loopback redirect): stored and shared as the device flow's. */
  adopt(set: TokenSet): Promise<Token>;
  getToken(signal: AbortSignal): Promise<Token>;
  /** Revokes, deletes the stored refresh token, signs out every process. */
  signOut(): Promise<void>;
  /** Whether a token can be had (it asks: a stored refresh token may have been revoked), and its expiry. */
  state(signal: AbortSignal): Promise<{ signedIn: boolean; expiresAt?: number | undefined }>;
  close(): Promise<void>;
}

/**
 * Longest wait (ms) of `token`, `status` and `logout` for the process that leads the session (its token request
 * included): a command line must answer, not hang behind a sign-in another process shows a prompt for.
 */
const COMMAND_WAIT = 30_000;

export function openProfileSession(profile: Profile, options: { prompt?: (prompt: DevicePrompt) => void; forSignIn?: boolean } = {}): ProfileSession {
  let onPrompt = options.prompt;
  const session: DeviceSession = deviceSignIn({
    issuer: profile.issuer,
    clientId: profile.clientId,
    scope: profile.scope,
    store: profile.store,
    onPrompt: (prompt) => onPrompt?.(prompt),
    // The sign-in waits as long as a device code lives; the other commands are bounded.
    ...(options.forSignIn !== true && { sharing: localSharing({ timeout: COMMAND_WAIT }) }),
  });
  return {
    signIn: ({ onPrompt: show, signal }) => {
      onPrompt = show;
      return session.signIn({ signal });
    },
    adopt: (set) => adoptSignIn(session, set),
    getToken: (signal) => session.getToken({ signal }),
    signOut: () => session.signOut(),
    async state(signal) {
      try {
        const token = await session.getToken({ signal });
        return { signedIn: true, expiresAt: token.expiresAt };
      } catch (error) {
        if (isSessionError(error, 'login_required') || isSessionError(error, 'invalid_grant')) return { signedIn: false };
        throw error;
      }
    },
    close: () => session.close(),
  };
}
