/**
 * Where the command line writes. stdout carries only what a command is asked for (the token of `token`, the lines of
 * `status`), so `$(shared-session token)` is the token and nothing else; prompts, progress and errors go to stderr.
 */
export interface Output {
  /** The command's result (stdout). */
  result(text: string): void;
  /** Prompts, progress, errors (stderr). */
  tell(text: string): void;
}

export const processOutput: Output = {
  result: (text) => void process.stdout.write(`${text}\n`),
  tell: (text) => void process.stderr.write(`${text}\n`),
};

/**
 * `text` with every one of `secrets` cut out: a last guard for messages that quote what a server sent (a provider may
 * echo the code or refresh token it was given).
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}
