import { SessionError } from '../../core/errors.js';

/**
 * What a Redis ACL user needs for `redisSharing` (README, "Redis ACL"): these commands (the scripts run GET, SET, DEL,
 * PTTL, PEXPIRE, TIME and PUBLISH), the keys and the channels under the prefix.
 */
export const REQUIRED_COMMANDS = ['eval', 'get', 'set', 'del', 'pttl', 'pexpire', 'time', 'publish', 'subscribe', 'unsubscribe'] as const;

/** The ACL rule that grants what `redisSharing` needs under `prefix`. */
export function requiredAcl(prefix: string): string {
  return `~${prefix}* &${prefix}* ${REQUIRED_COMMANDS.map((command) => `+${command}`).join(' ')}`;
}

/**
 * A refusal of Redis's ACL (`NOPERM …`, or a script's "The user executing the script can't …") as a
 * `permission_denied` SessionError that names the permission the user lacks; undefined for any other error.
 * Redis's messages name no argument, so nothing of a record travels in it.
 */
export function permissionError(error: unknown, prefix: string): SessionError | undefined {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  if (!/^NOPERM|user executing the script can't/i.test(message)) return undefined;
  const missing = /channel/i.test(message)
    ? `the channels \`&${prefix}*\` (Pub/Sub)`
    : /\bkey/i.test(message)
      ? `the keys \`~${prefix}*\``
      : /'([a-z|]+)' command/i.exec(message)?.[1] !== undefined
        ? `the command \`+${/'([a-z|]+)' command/i.exec(message)![1]!.toLowerCase()}\``
        : `one of the commands ${REQUIRED_COMMANDS.map((command) => `\`+${command}\``).join(', ')}`;
  const cause = new Error(message);
  return new SessionError(
    'permission_denied',
    `The Redis user has no permission for ${missing}; redisSharing needs \`${requiredAcl(prefix)}\``,
    { cause },
  );
}
