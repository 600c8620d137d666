import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

// `npm test` builds before vitest runs, so this checks the published shape: `exports` → dist, ESM, named exports.
describe('the built package', () => {
  it('is importable as shared-session from plain Node', async () => {
    const script = `
      const m = await import('shared-session');
      console.log(JSON.stringify(Object.keys(m).sort()));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    const names = JSON.parse(stdout) as string[];
    expect(names).toEqual(expect.arrayContaining(['createSession', 'clientCredentials', 'refreshTokenGrant', 'customProvider', 'staticToken', 'SessionError', 'isSessionError']));
  });

  it('exposes the geo presets as sub-paths', async () => {
    const script = `
      const sh = await import('shared-session/sentinel-hub');
      const ee = await import('shared-session/earth-engine');
      console.log(JSON.stringify([...Object.keys(sh), ...Object.keys(ee)].sort()));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual(
      expect.arrayContaining(['sentinelHub', 'cdse', 'earthEngine', 'googleRefreshToken', 'googleAccessToken', 'fromSepalHeaders', 'sepalSessions', 'sepalUser']),
    );
  });

  it('every sub-path of `exports` imports in plain Node and has its page in the API docs (typedoc.json)', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const { exports } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const subpaths = Object.keys(exports).filter((subpath) => subpath !== './package.json');
    const specifiers = subpaths.map((subpath) => (subpath === '.' ? 'shared-session' : `shared-session/${subpath.slice(2)}`));
    // Sub-paths for other runtimes (cloudflare, redis) load in Node too: their runtime-specific parts stay inside calls.
    // Not leaflet: Leaflet itself reads `window` as it is imported.
    const inNode = specifiers.filter((specifier) => specifier !== 'shared-session/leaflet');
    const script = `for (const s of ${JSON.stringify(inNode)}) await import(s); console.log('ok');`;
    expect((await run(process.execPath, ['--input-type=module', '-e', script])).stdout.trim()).toBe('ok');
    const { entryPoints } = JSON.parse(readFileSync(path.join(root, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };
    expect([...entryPoints].sort()).toEqual(subpaths.map((subpath) => `src/${subpath === '.' ? 'index' : subpath.slice(2)}.ts`).sort());
  });
});
