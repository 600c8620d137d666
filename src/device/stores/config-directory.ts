import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * The user's configuration directory, as each OS names it: `$XDG_CONFIG_HOME` (else `~/.config`) on Linux and the
 * BSDs, `~/Library/Application Support` on macOS, `%APPDATA%` (else `~\AppData\Roaming`) on Windows.
 */
export function configDirectory(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'win32') return nonEmptyAbsolute(env.APPDATA) ?? join(homedir(), 'AppData', 'Roaming');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support');
  // XDG Base Directory: a relative value is invalid and must be ignored.
  return nonEmptyAbsolute(env.XDG_CONFIG_HOME) ?? join(homedir(), '.config');
}

function nonEmptyAbsolute(value: string | undefined): string | undefined {
  return value !== undefined && value !== '' && isAbsolute(value) ? value : undefined;
}
