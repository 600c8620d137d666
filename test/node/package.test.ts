import { execFile } from 'node:child_process';
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
});
