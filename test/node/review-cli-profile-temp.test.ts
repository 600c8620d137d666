import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { findProfile, saveProfile } from '../../src/cli/profiles.js';

// Review (issue 26): `login` saved the profile through `profiles.json.<pid>.tmp`, created exclusively. In a container
// the command line runs as the same pid every time (1 in its pid namespace): one run killed between the write and the
// rename left that file, and every later `login` failed — after the person approved — with "unexpected failure (Error)",
// exit 1, its refresh token stored but no profile to use it with.

const home = mkdtempSync(path.join(tmpdir(), 'review-profile-temp-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

it('a temporary file left by a killed run with the same pid does not stop the profile being saved', () => {
  const env = { XDG_CONFIG_HOME: home };
  const dir = path.join(home, 'shared-session');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, `profiles.json.${process.pid}.tmp`), '{"half', { mode: 0o600 });
  saveProfile('default', { issuer: 'https://id.example', clientId: 'cli', scope: 'openid offline_access', store: 'file' }, env);
  expect(findProfile('default', env)).toMatchObject({ issuer: 'https://id.example', clientId: 'cli' });
  // Nothing of its own left behind.
  expect(readdirSync(dir).filter((file) => file.endsWith('.tmp') && !file.includes(`.${process.pid}.`))).toEqual([]);
});
