import * as z from 'zod/mini';
import { type ErrorCode, isSessionError, SHARED_FAILURE_CODES } from '../../core/errors.js';
import { tokenSchema } from '../../core/schemas.js';
import type { SignInPrompt } from '../../core/prompt.js';
import type { Token } from '../../core/token.js';

/**
 * The wire format of `localSharing`: one JSON object per line on a Unix domain socket, per credential. The version
 * is part of the socket's name too, so processes of a release with another format never connect to this one's
 * (they elect their own leader instead). Nothing here is ever written to disk.
 */
export const FORMAT = 2;

/**
 * The longest line read (bytes, newline excluded). A token message is a few hundred bytes (a JWT access token a
 * few KB); anything longer is dropped unread and reported, so a peer cannot make us buffer without bound.
 */
export const MAX_LINE = 64 * 1024;

/** How often (ms) a leader that is requesting a token says so (`busy`). Well under the shortest answer timeout. */
export const HEARTBEAT = 200;

/**
 * The codes a failed token request carries from the leader to the contexts that asked it: the shared ones, plus
 * `login_required` (signed out with a spent refresh token), `aborted` (a sign-out overtook the request), and the
 * outcomes of a sign-in the leader ran for the contexts that joined it (`access_denied`, `expired_token`).
 */
export const LOCAL_FAILURE_CODES = [...SHARED_FAILURE_CODES, 'login_required', 'aborted', 'access_denied', 'expired_token'] as const satisfies readonly ErrorCode[];

const failureCode = z.literal(LOCAL_FAILURE_CODES);
const v = z.literal(FORMAT);
/**
 * The sign-out epoch: a counter every sign-out raises, never a wall-clock time (a clock stepped back after a sign-out
 * would make every new token look older than it). A token belongs to the epoch it was requested in.
 */
const epoch = z.number().check(z.int(), z.nonnegative());
/** A request number, chosen by the asking context. */
const id = z.number().check(z.int(), z.nonnegative());
/** Only for grants that rotate refresh tokens (`refreshTokenGrant`), so that a new leader continues the rotation. */
const refreshToken = z.optional(z.string().check(z.minLength(1)));

const messageSchemas = {
  /**
   * Sent by both ends as soon as a connection opens: the sender's latest sign-out and the token it holds, so that a
   * new leader adopts a token instead of fetching one, and a sign-out survives the leader that saw it.
   */
  state: z.object({ v, type: z.literal('state'), epoch, token: z.optional(tokenSchema), refreshToken }),
  /**
   * A context needs a token (client → leader); `rejected` is one it must not get back. With `signIn`, it signs in
   * (`SharedLink.obtainHere`): the leader runs the sign-in — one for every context that asks while it runs — unless
   * it holds a usable token, which it answers with.
   */
  request: z.object({
    v,
    type: z.literal('request'),
    id,
    rejected: z.optional(z.string()),
    signIn: z.optional(z.literal(true)),
    /** With `signIn`: the asker shows the person the prompt of a sign-in this request starts (a `prompt` message). */
    prompt: z.optional(z.literal(true)),
  }),
  /**
   * What the sign-in that request `id` started shows the person (leader → that asker only): the device flow's public
   * fields, never its device code. The asker's `onPrompt` shows it, in the process whose `signIn()` asked.
   */
  prompt: z.object({
    v,
    type: z.literal('prompt'),
    id,
    verificationUri: z.string().check(z.maxLength(2048)),
    verificationUriComplete: z.optional(z.string().check(z.maxLength(2048))),
    userCode: z.string().check(z.maxLength(256)),
    expiresAt: z.number(),
  }),
  /**
   * A token became current (leader → clients), requested in sign-out `epoch`; with `id`, it also answers that
   * request of the receiver.
   */
  token: z.object({ v, type: z.literal('token'), token: tokenSchema, epoch, refreshToken, id: z.optional(id) }),
  /**
   * The leader is requesting a token (leader → clients), sent when the request starts and every `HEARTBEAT` ms until
   * it ends: a leader that says nothing for an answer timeout is silent (busy or stopped), and is replaced.
   */
  busy: z.object({ v, type: z.literal('busy') }),
  /** The leader's token request for request `id` failed; the asker fails the same way instead of trying itself. */
  failed: z.object({
    v,
    type: z.literal('failed'),
    id,
    code: failureCode,
    retryAfter: z.optional(z.number().check(z.positive())),
    status: z.optional(z.number().check(z.int())),
    oauthError: z.optional(z.string().check(z.maxLength(200))),
  }),
  /**
   * The leader is closing (leader → one client, which holds its token): bind a socket and rename it over the
   * leader's, keeping this connection open until then. The socket path is never empty meanwhile, so a context that
   * starts at that moment connects to a holder of the token instead of leading alone and requesting another; a client
   * that closes its connection first went away, and the leader asks the next.
   */
  lead: z.object({ v, type: z.literal('lead') }),
  /** Sign-out to `epoch`, either way: tokens of earlier epochs are dead everywhere. */
  clear: z.object({ v, type: z.literal('clear'), epoch }),
};

/** A validated message of this format. */
export type Message = z.infer<(typeof messageSchemas)[keyof typeof messageSchemas]>;
/** A message without its version: what a context sends. */
export type Outgoing = Message extends infer M ? (M extends unknown ? Omit<M, 'v'> : never) : never;
export type FailureCode = z.infer<typeof failureCode>;
export type { Token };

/** One line to write: the message with its version, and the newline. */
export function encode(message: Outgoing): string {
  return `${JSON.stringify({ v: FORMAT, ...message })}\n`;
}

/** The message on `line` when it is a well-formed one of this format, else undefined. */
export function decode(line: string): Message | undefined {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return undefined;
  }
  const type = (data as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(messageSchemas, type)) return undefined;
  const parsed = messageSchemas[type as Message['type']].safeParse(data);
  return parsed.success ? parsed.data : undefined;
}

/** Whether `code` may travel in a `failed` message. */
export function isFailureCode(code: string): code is FailureCode {
  return failureCode.safeParse(code).success;
}

/**
 * Splits a byte stream into lines of at most `MAX_LINE` bytes. A longer line is skipped up to its newline and
 * reported once through `oversized`; bytes are decoded as UTF-8 per line, so a character split across chunks is
 * kept whole.
 */
export class LineReader {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #skipping = false;
  readonly #decoder = new TextDecoder();

  constructor(
    readonly onLine: (line: string) => void,
    readonly oversized: () => void,
  ) {}

  push(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) break;
      if (this.#skipping) {
        this.#skipping = false;
      } else if (this.#length + newline - start > MAX_LINE) {
        this.oversized();
      } else {
        this.#chunks.push(chunk.subarray(start, newline));
        this.onLine(this.#take());
      }
      this.#chunks = [];
      this.#length = 0;
      start = newline + 1;
    }
    if (start >= chunk.length || this.#skipping) return;
    const rest = chunk.subarray(start);
    if (this.#length + rest.length > MAX_LINE) {
      this.#chunks = [];
      this.#length = 0;
      this.#skipping = true;
      this.oversized();
      return;
    }
    // Copied: the stream may reuse its buffer.
    this.#chunks.push(new Uint8Array(rest));
    this.#length += rest.length;
  }

  #take(): string {
    if (this.#chunks.length === 1) return this.#decoder.decode(this.#chunks[0]);
    const joined = new Uint8Array(this.#chunks.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of this.#chunks) {
      joined.set(part, offset);
      offset += part.length;
    }
    return this.#decoder.decode(joined);
  }
}

/** The `prompt` message for request `id`: only the prompt's public fields, whatever else `prompt` holds. */
export function promptMessage(id: number, prompt: SignInPrompt): Outgoing {
  const { verificationUri, verificationUriComplete, userCode, expiresAt } = prompt;
  return { type: 'prompt', id, verificationUri, ...(verificationUriComplete === undefined ? {} : { verificationUriComplete }), userCode, expiresAt };
}

/** What a `prompt` message shows the person. */
export function promptOf(message: Extract<Message, { type: 'prompt' }>): SignInPrompt {
  const { verificationUri, verificationUriComplete, userCode, expiresAt } = message;
  return { verificationUri, ...(verificationUriComplete === undefined ? {} : { verificationUriComplete }), userCode, expiresAt };
}

/** The `failed` answer to request `id`: the code, and what says when to ask again. */
export function failure(id: number, error: unknown): Outgoing {
  const code = isSessionError(error) ? error.code : 'request_failed';
  const details = isSessionError(error) ? error : undefined;
  return {
    type: 'failed',
    id,
    code: isFailureCode(code) ? code : 'request_failed',
    ...(details?.retryAfter !== undefined && details.retryAfter > 0 ? { retryAfter: details.retryAfter } : {}),
    ...(details?.status === undefined ? {} : { status: details.status }),
    ...(details?.oauthError === undefined ? {} : { oauthError: details.oauthError.slice(0, 200) }),
  };
}
