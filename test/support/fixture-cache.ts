import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A disk cache of bundled browser fixtures, one record per entry file: its code and every file that went into it, with
 * a hash of each file's content. Most browser test files bundle the same fixtures (the tab fixture, the sign-in app,
 * the map pages: seconds each on a loaded machine, 12 s for the three map pages at load 35); the first one bundles,
 * the others read the record. A record is used only while every input still hashes the same (the built package in
 * `dist/` included), so it never serves code older than its sources. The inputs are every file esbuild read for the
 * build, also those tree-shaking left out (a re-export-only module in `dist/` decides what the bundle contains), plus
 * what esbuild reads without listing it or what decides how it bundles: `ALWAYS_HASHED`.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const directory = path.join(root, 'node_modules/.cache/shared-session-fixtures');

/** Bump when the bundling options in `bundleFixtures` change: records of other options are then never read. */
const OPTIONS_VERSION = 2;

/**
 * Hashed into every record: the package's `package.json` (its `exports` and `imports`, which a bare or `#` import
 * resolves through), the lock file (a dependency upgraded), `tsconfig.json` (its `paths`, which esbuild follows), and
 * the support modules that hold the build's options and its resolver plugin.
 */
const ALWAYS_HASHED = ['package.json', 'package-lock.json', 'tsconfig.json', 'test/support/chromium.ts', 'test/support/built-package.ts'];

interface CacheRecord {
  /** Input path (relative to the project root, as esbuild's metafile names it) → sha256 of its content. */
  readonly inputs: Record<string, string>;
  readonly code: string;
}

async function hashOf(file: string): Promise<string | undefined> {
  try {
    return createHash('sha256').update(await readFile(path.resolve(root, file))).digest('hex');
  } catch {
    return undefined;
  }
}

function recordPath(entry: string, esbuildVersion: string): string {
  const key = createHash('sha256').update(JSON.stringify([OPTIONS_VERSION, esbuildVersion, path.resolve(root, entry)])).digest('hex');
  return path.join(directory, `${key.slice(0, 32)}.json`);
}

/** The cached code of `entry`, if its record exists and every input is unchanged. */
export async function cachedBundle(entry: string, esbuildVersion: string): Promise<string | undefined> {
  let record: CacheRecord;
  try {
    record = JSON.parse(await readFile(recordPath(entry, esbuildVersion), 'utf8')) as CacheRecord;
  } catch {
    return undefined;
  }
  const files = Object.keys(record.inputs);
  const hashes = await Promise.all(files.map((file) => hashOf(file)));
  return files.every((file, index) => hashes[index] === record.inputs[file]) ? record.code : undefined;
}

/**
 * Stores the code of `entry` with the inputs esbuild read for the build (`inputs`: every key of the metafile's
 * `inputs`). Not stored if an input changed after `startedAt`, when the build began (a `dist/` rebuilt meanwhile: the
 * hashes would be of newer files than the code). Written to a temporary name and renamed, so that test files bundling
 * side by side never read half a record.
 */
export async function storeBundle(entry: string, esbuildVersion: string, code: string, inputs: readonly string[], startedAt: number): Promise<void> {
  const files = [...new Set([...inputs, ...ALWAYS_HASHED])];
  const changed = await Promise.all(files.map((file) => stat(path.resolve(root, file)).then(({ mtimeMs }) => mtimeMs >= startedAt, () => true)));
  if (changed.some(Boolean)) return; // changed while bundling, or a virtual or vanished input: not cacheable
  const hashes = await Promise.all(files.map((file) => hashOf(file)));
  if (hashes.some((hash) => hash === undefined)) return;
  const record: CacheRecord = { inputs: Object.fromEntries(files.map((file, index) => [file, hashes[index]!])), code };
  const target = recordPath(entry, esbuildVersion);
  const temporary = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await mkdir(directory, { recursive: true });
    await writeFile(temporary, JSON.stringify(record));
    await rename(temporary, target);
  } catch {
    // A cache that cannot be written costs a bundle next time, nothing else.
  }
}
