/** What the Deno KV fixtures send each other: the test's configuration, commands to contexts, and their answers. */

export interface KvConfig {
  readonly tokenUrl: string;
  readonly apiUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The KV file every process and worker opens. */
  readonly kvPath: string;
  /** Workers per process, each with its own session (the main module has one too). */
  readonly workers: number;
  /** For `refreshTokenGrant`: the refresh token every context starts from. Default: client credentials. */
  readonly refreshToken?: string;
  readonly refreshBeforeExpiry?: number;
  readonly pollInterval?: number;
  readonly leaseTime?: number;
  /** Timeout of one token request attempt (ms), the provider's `timeout`. Default: the provider's (10 s). */
  readonly requestTimeout?: number;
}

export type Command =
  | { readonly type: 'start'; readonly config: KvConfig }
  /** `count` concurrent getToken, then one API call with a token. */
  | { readonly type: 'burst'; readonly count: number }
  /** getToken + an API call every `every` ms until `until` (epoch ms: the same end for every context). */
  | { readonly type: 'loop'; readonly until: number; readonly every: number }
  | { readonly type: 'clear' }
  /** Resolves once this context was signed out (its `cleared` event), or after `timeout` ms. */
  | { readonly type: 'cleared'; readonly timeout: number }
  /**
   * Closes the session (and its KV). `settle`: first waits for a token request in flight (a refresh ahead of expiry
   * may run after the last call), in the same task as the close, so that no request is cut off by it.
   */
  | { readonly type: 'close'; readonly settle?: boolean };

export interface KvAnswer {
  readonly tokens: readonly string[];
  readonly apiStatuses: readonly number[];
  readonly failures: readonly string[];
  readonly authenticated: number;
  /** Date.now() of each `cleared` event, with its origin. */
  readonly cleared: readonly { readonly origin: string; readonly at: number }[];
  readonly errors: readonly string[];
  /** Every token this context fetched from the endpoint (its `authenticated` events), as its clock timed it. */
  readonly fetched: readonly FetchedToken[];
  /** Date.now() just before this context's last getToken of a `loop` (undefined before one). */
  readonly lastCall?: number;
  /** Every API call answered other than 200: when its token was handed out, when it expires, when the answer came. */
  readonly refused: readonly { readonly status: number; readonly handedAt: number; readonly expiresAt: number; readonly at: number }[];
}

export interface FetchedToken {
  readonly accessToken: string;
  /** When the request was sent (epoch ms): the token's `issuedAt`. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Prints the one line the test reads. */
export function report(result: unknown): void {
  console.log(`RESULT ${JSON.stringify(result)}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
