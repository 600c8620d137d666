import type { Token, TokenSet } from '../index.js';
import type { Profile } from './profiles.js';

export interface DevicePrompt {
  readonly verificationUri: string;
  readonly verificationUriComplete?: string | undefined;
  readonly userCode: string;
  readonly expiresAt: number;
}

/** The profile's session as the commands use it: over `deviceSignIn` (`shared-session/node`) and `localSharing`. */
export interface ProfileSession {
  /** The device authorization grant; resolves when the person approved. */
  signIn(options: { onPrompt: (prompt: DevicePrompt) => void; timeout: number; signal: AbortSignal }): Promise<Token>;
  /** Takes a sign-in made elsewhere (the loopback redirect): stored and shared as the device flow's would be. */
  adopt(set: TokenSet, signal: AbortSignal): Promise<Token>;
  getToken(signal: AbortSignal): Promise<Token>;
  signOut(signal: AbortSignal): Promise<void>;
  /** Signed in (a stored or shared sign-in), and the shared token's expiry when one is known — without a request. */
  state(): Promise<{ signedIn: boolean; expiresAt?: number | undefined }>;
  close(): Promise<void>;
}

export async function openProfileSession(_profile: Profile, _env: NodeJS.ProcessEnv): Promise<ProfileSession> {
  throw new Error('not yet');
}
