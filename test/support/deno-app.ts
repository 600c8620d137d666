import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The `deno` binary of the `deno` npm package. */
export const DENO = path.join(root, 'node_modules/.bin/deno');

/**
 * Sets up `test-results/<name>` as a Deno app as a user has it: its own package.json and deno.json, the packed
 * package (`npm pack` of the built `dist/`) in its node_modules, and the files of `fixtures` beside them.
 * Dependencies resolve from node_modules (the app's, then the repository's above it): offline, as CI is.
 * Returns the app's directory.
 */
export async function denoApp(name: string, fixtures: string): Promise<string> {
  if (!existsSync(path.join(root, 'dist/index.js'))) throw new Error('build first (npm test does)');
  const app = path.join(root, 'test-results', name);
  rmSync(app, { recursive: true, force: true });
  const installed = path.join(app, 'node_modules/shared-session');
  mkdirSync(installed, { recursive: true });
  // --ignore-scripts: `prepack` would rebuild dist/ while other test files read it.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', app], { cwd: root });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  await run('tar', ['-xzf', path.join(app, filename), '-C', installed, '--strip-components=1']);
  for (const file of readdirSync(fixtures)) cpSync(path.join(fixtures, file), path.join(app, file));
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(path.join(app, 'deno.json'), JSON.stringify({ nodeModulesDir: 'manual' }));
  return app;
}
