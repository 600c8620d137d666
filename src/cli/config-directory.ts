import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The user's configuration directory for shared-session, per OS: `$SHARED_SESSION_CONFIG_DIR` when set, else
 * `$XDG_CONFIG_HOME/shared-session` (or `~/.config/shared-session`) on Linux and BSDs,
 * `~/Library/Application Support/shared-session` on macOS, `%APPDATA%\shared-session` on Windows.
 */
export function configDirectory(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const given = env.SHARED_SESSION_CONFIG_DIR;
  if (given !== undefined && given !== '') return given;
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'shared-session');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'shared-session');
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg !== undefined && xdg.startsWith('/') ? xdg : join(homedir(), '.config'), 'shared-session');
}
