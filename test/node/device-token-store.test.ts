import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileStore } from '../../src/device/stores/file-store.js';
import { configDirectory } from '../../src/device/stores/config-directory.js';

// The refresh token's file: 0600 in a 0700 directory of ours, written whole (temp + rename), refused — never read —
// when its mode or owner are wrong. (Another owner needs root to stage; the same check, `stats.uid`, refuses it.)

let home: string;
beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'device-store-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

it('creates the directory 0700 and the file 0600 whatever the umask, and leaves no temporary file', async () => {
  const previous = process.umask(0o000);
  try {
    const file = path.join(home, 'fresh', 'nested', 'token.json');
    const store = fileStore(file);
    await store.open();
    store.write('rt-1');
    store.write('rt-2');
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(store.read()).toBe('rt-2');
    store.remove('rt-1');
    expect(store.read()).toBe('rt-2');
    store.remove('rt-2');
    expect(store.read()).toBeUndefined();
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(path.dirname(file))).toEqual([]);
  } finally {
    process.umask(previous);
  }
});

it('refuses a world-readable file with insecure_storage, without reading it', async () => {
  const dir = path.join(home, 'readable');
  mkdirSync(dir, { mode: 0o700 });
  const file = path.join(dir, 'token.json');
  writeFileSync(file, JSON.stringify({ v: 1, refreshToken: 'stolen-refresh-token' }), { mode: 0o644 });
  chmodSync(file, 0o644);
  const store = fileStore(file);
  await store.open();
  let error: unknown;
  try {
    store.read();
  } catch (caught) {
    error = caught;
  }
  expect(error).toMatchObject({ name: 'SessionError', code: 'insecure_storage' });
  expect(String((error as Error).message)).not.toContain('stolen-refresh-token');
});

it('refuses a directory others can open, and a symlinked file', async () => {
  const open = path.join(home, 'open-dir');
  mkdirSync(open, { mode: 0o755 });
  chmodSync(open, 0o755);
  await expect(fileStore(path.join(open, 'token.json')).open()).rejects.toMatchObject({ code: 'insecure_storage' });

  const dir = path.join(home, 'linked');
  mkdirSync(dir, { mode: 0o700 });
  const target = path.join(home, 'elsewhere.json');
  writeFileSync(target, JSON.stringify({ v: 1, refreshToken: 'x' }), { mode: 0o600 });
  symlinkSync(target, path.join(dir, 'token.json'));
  const store = fileStore(path.join(dir, 'token.json'));
  await store.open();
  expect(() => store.read()).toThrow(expect.objectContaining({ code: 'insecure_storage' }));
});

it('a file that is not its record is corrupt_storage, not a token', async () => {
  const dir = path.join(home, 'corrupt');
  mkdirSync(dir, { mode: 0o700 });
  const file = path.join(dir, 'token.json');
  writeFileSync(file, '{"v":2,"refreshToken":""}', { mode: 0o600 });
  const store = fileStore(file);
  await store.open();
  expect(() => store.read()).toThrow(expect.objectContaining({ code: 'corrupt_storage' }));
});

it('names the configuration directory per OS', () => {
  expect(configDirectory('linux', { XDG_CONFIG_HOME: '/x/config' })).toBe('/x/config');
  expect(configDirectory('linux', { XDG_CONFIG_HOME: 'relative' })).toMatch(/\/\.config$/);
  expect(configDirectory('darwin', {})).toMatch(/Library\/Application Support$/);
  expect(configDirectory('win32', { APPDATA: 'C:\\Users\\a\\AppData\\Roaming' })).toBe('C:\\Users\\a\\AppData\\Roaming');
});
