/**
 * What a sign-in shows the person (the device flow's user code, RFC 8628 §3.3): public fields only, never the device
 * code. Carried to the context that asked for the sign-in, wherever the sign-in runs.
 */
export interface SignInPrompt {
  readonly verificationUri: string;
  readonly verificationUriComplete?: string | undefined;
  readonly userCode: string;
  /** Epoch ms after which the code no longer works. */
  readonly expiresAt: number;
}
