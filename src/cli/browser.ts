import { spawn } from 'node:child_process';

/**
 * The command that opens a URL in the person's browser, when one can open here: `$BROWSER` when set (the
 * convention of `xdg-open`, Python's `webbrowser`…; `none` turns it off), `open` on macOS, `rundll32` on Windows,
 * `xdg-open` on a desktop session of Linux or a BSD (a display, and not over SSH). Undefined otherwise: the device
 * flow is the way in there.
 */
export function browserCommand(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): readonly [string, ...string[]] | undefined {
  const given = env.BROWSER;
  if (given !== undefined && given !== '') return given === 'none' ? undefined : [given];
  if (platform === 'darwin') return ['open'];
  if (platform === 'win32') return ['rundll32', 'url.dll,FileProtocolHandler'];
  const desktop = (env.DISPLAY ?? '') !== '' || (env.WAYLAND_DISPLAY ?? '') !== '';
  const remote = (env.SSH_CONNECTION ?? '') !== '' || (env.SSH_TTY ?? '') !== '';
  return desktop && !remote ? ['xdg-open'] : undefined;
}

/** Starts the browser on `url` (no shell: the URL is one argument), without waiting for it. False when it could not. */
export function openBrowser(command: readonly [string, ...string[]], url: string): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const [file, ...args] = command;
      const child = spawn(file, [...args, url], { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}
