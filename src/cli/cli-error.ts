import { EXIT, exitCodeFor, type ExitCode } from './exit-codes.js';

/**
 * A failure of the command line with the exit code it ends with. Its message goes to stderr as it is: it never holds
 * a token, an authorization code or a refresh token (the SDK's `SessionError` messages never do either).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

/** Any failure as a `CliError`: a `SessionError` keeps its message and gets the exit code of its `code`. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const { name, code, message } = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  if (name === 'SessionError' && typeof code === 'string' && typeof message === 'string') {
    return new CliError(exitCodeFor(code), `${message} (${code})`, { cause: error });
  }
  // Not ours: its message may hold anything (a URL with a query, a body), so only its kind is shown.
  return new CliError(EXIT.failure, `unexpected failure (${typeof name === 'string' ? name : typeof error})`, { cause: error });
}
