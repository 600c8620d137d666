import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './cli-error.js';

export type CommandName = 'login' | 'token' | 'logout' | 'status' | 'help' | 'version';

const shared = {
  profile: { type: 'string', short: 'p' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Each command's options: what `parseArgs` accepts (anything else is a usage error, exit code 2). */
const optionsOf = {
  login: {
    ...shared,
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    scope: { type: 'string' },
    openeo: { type: 'string' },
    'provider-id': { type: 'string' },
    browser: { type: 'boolean' },
    device: { type: 'boolean' },
    store: { type: 'string' },
    timeout: { type: 'string' },
  },
  token: { ...shared, json: { type: 'boolean' } },
  logout: { ...shared },
  status: { ...shared, json: { type: 'boolean' } },
  help: { ...shared },
  version: { ...shared },
} as const satisfies Record<CommandName, ParseArgsConfig['options']>;

export interface ParsedCommand {
  readonly command: CommandName;
  /** Option values by long name; a flag is `true` when given. */
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
}

const aliases: Record<string, CommandName> = { '--help': 'help', '-h': 'help', '--version': 'version', '-v': 'version' };

/** `argv` without node and the script: the command first, then its options (strict: unknown ones are refused). */
export function parseCommand(argv: readonly string[]): ParsedCommand {
  const [first, ...rest] = argv;
  if (first === undefined) return { command: 'help', values: {} };
  const command = aliases[first] ?? first;
  if (!Object.hasOwn(optionsOf, command)) throw usageError(`unknown command "${printable(command)}" (try: shared-session help)`);
  const name = command as CommandName;
  try {
    const { values, positionals } = parseArgs({ args: rest, options: optionsOf[name], strict: true, allowPositionals: true });
    if (positionals.length > 0) throw usageError(`${name} takes no argument "${printable(positionals[0]!)}"`);
    return { command: name, values: values as Record<string, string | boolean | undefined> };
  } catch (error) {
    if ((error as { name?: string }).name === 'CliError') throw error;
    // parseArgs's own messages name the option ("Unknown option '--x'", "Option '--issuer <value>' argument missing").
    throw usageError(`${name}: ${(error as Error).message.split(/\n|\. To specify/)[0] ?? 'bad arguments'}`);
  }
}

/** An argument as it can be shown: control characters out, bounded (it is echoed to a terminal). */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean;
}

export const USAGE = `Usage: shared-session <command> [options]

Commands:
  login    Sign in once for every process of this user (device flow, or the browser with --browser)
  token    Print a fresh access token on stdout, and nothing else (--json: access_token, token_type, expires_at)
  logout   Revoke the sign-in, delete the stored refresh token, stop every process from getting tokens
  status   Whether this profile is signed in, its issuer and token expiry (never a token)
  help     This text

Options:
  -p, --profile <name>   Named profile (default: $SHARED_SESSION_PROFILE, else "default"); presets: cdse, sentinel-hub

login options:
  --issuer <url>         OpenID provider (its discovery document is read)
  --client-id <id>       Public client registered with the provider
  --scope <scopes>       Default "openid offline_access"
  --openeo <url>         An openEO back-end: its OIDC provider and default client are discovered
  --provider-id <id>     Which of the back-end's providers (default: the first listed)
  --browser | --device   The sign-in flow (default: the browser when one can open, else the device flow)
  --store <where>        file (default) or keychain
  --timeout <seconds>    Longest wait for the sign-in (default 600)

Exit codes: 0 ok, 1 failure, 2 usage, 3 not signed in, 4 denied, 5 expired, 6 network, 7 storage, 130 interrupted.
See docs/cli.md.`;

/** A string option's value (flags and absent options are undefined). */
export function stringOption(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
