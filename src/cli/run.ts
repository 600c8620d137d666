import { parseCommand, USAGE } from './arguments.js';
import { toCliError } from './cli-error.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { Output } from './output.js';

/** What a command runs with: where it writes, the environment it reads, and the signal of Ctrl-C. */
export interface CommandContext {
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
}

export type Command = (values: Readonly<Record<string, string | boolean | undefined>>, context: CommandContext) => Promise<ExitCode>;

// Loaded when run: `help` and usage errors answer without loading the SDK, a sign-in flow or an HTTP client.
const commands: Record<'login' | 'token' | 'logout' | 'status', () => Promise<Command>> = {
  login: async () => (await import('./commands/login.js')).login,
  token: async () => (await import('./commands/token.js')).token,
  logout: async () => (await import('./commands/logout.js')).logout,
  status: async () => (await import('./commands/status.js')).status,
};

/** Runs one command line; resolves with the exit code. Every failure is one line on stderr, never a secret. */
export async function run(argv: readonly string[], context: CommandContext): Promise<ExitCode> {
  try {
    const { command, values } = parseCommand(argv);
    if (command === 'help' || values.help === true) {
      context.output.tell(USAGE);
      return argv.length === 0 ? EXIT.usage : EXIT.ok;
    }
    if (command === 'version') {
      context.output.result(await version());
      return EXIT.ok;
    }
    return await (await commands[command]())(values, context);
  } catch (error) {
    const failure = context.signal.aborted ? toCliError(new DOMException('interrupted', 'AbortError')) : toCliError(error);
    context.output.tell(`shared-session: ${context.signal.aborted ? 'interrupted' : failure.message}`);
    return context.signal.aborted ? EXIT.interrupted : failure.exitCode;
  }
}

async function version(): Promise<string> {
  const { createRequire } = await import('node:module');
  const { version: installed } = createRequire(import.meta.url)('../../package.json') as { version: string };
  return installed;
}
