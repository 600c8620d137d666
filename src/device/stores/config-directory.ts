import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';

/**
 * The user's configuration directory, as each OS names it: `$XDG_CONFIG_HOME` (else `~/.config`) on Linux and the
 * BSDs, `~/Library/Application Support` on macOS, `%APPDATA%` (else `~\AppData\Roaming`) on Windows.
 */
export function configDirectory(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'win32') return absolute(win32, env.APPDATA) ?? win32.join(homedir(), 'AppData', 'Roaming');
  if (platform === 'darwin') return posix.join(homedir(), 'Library', 'Application Support');
  // XDG Base Directory: a relative value is invalid and must be ignored.
  return absolute(posix, env.XDG_CONFIG_HOME) ?? posix.join(homedir(), '.config');
}

function absolute(paths: typeof posix, value: string | undefined): string | undefined {
  return value !== undefined && value !== '' && paths.isAbsolute(value) ? value : undefined;
}
