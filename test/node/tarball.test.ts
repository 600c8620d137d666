import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

interface PackageJson {
  name: string;
  exports: Record<string, unknown>;
  imports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

const packageJson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;

/** What `npm publish` would upload, without running `prepack` (`npm test` builds before vitest runs). */
let packed: Packed;
let files: Set<string>;

beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist/index.js'))) throw new Error('build first (npm test does)');
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  [packed] = JSON.parse(stdout) as [Packed];
  files = new Set(packed.files.map((file) => file.path));
  const kB = (bytes: number): string => `${(bytes / 1024).toFixed(1)} kB`;
  process.stdout.write(`${packed.filename}: ${kB(packed.size)} packed, ${kB(packed.unpackedSize)} unpacked, ${packed.entryCount} files\n`);
}, 60_000);

/** The string leaves of an `exports` or `imports` value (conditions nest). */
function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(targets);
}

/** Package-relative path of a `./…` target. */
const inPackage = (target: string): string => path.posix.normalize(target);

/** The specifiers a module imports, re-exports or references, comments (TSDoc examples) left out. */
function specifiers(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(root, file), 'utf8'), true, true);
  return [...info.importedFiles, ...info.referencedFiles].map((reference) => reference.fileName);
}

/** Every file reachable from `entries` through relative specifiers; `resolve` maps one to a package path. */
function closure(entries: string[], resolve: (from: string, specifier: string) => string): { reached: Set<string>; bare: Set<string> } {
  const reached = new Set<string>();
  const bare = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    if (!existsSync(path.join(root, file))) continue; // reported by the caller: it is not in the tarball either
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith('.')) queue.push(resolve(file, specifier));
      else bare.add(specifier);
    }
  }
  return { reached, bare };
}

const relative = (from: string, specifier: string): string => path.posix.join(path.posix.dirname(from), specifier);
/** `./x.js` in a `.d.ts` is `./x.d.ts` (NodeNext: declaration specifiers carry the `.js` of the module they type). */
const declarationOf = (from: string, specifier: string): string => relative(from, specifier).replace(/\.(m?)js$/, '.d.$1ts');

/** The package name a bare specifier belongs to (`zod/mini` → `zod`, `@scope/a/b` → `@scope/a`). */
const packageOf = (specifier: string): string => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

describe('the tarball (npm pack --dry-run)', () => {
  it('holds dist/, README.md, LICENSE, CHANGELOG.md and package.json, and nothing else', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts']) {
      expect(files, file).toContain(file);
    }
    const others = [...files].filter((file) => !file.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(file));
    expect(others).toEqual([]);
    // Nothing but build output under dist/ either: no tests, fixtures or TypeScript sources that a build dragged in.
    expect([...files].filter((file) => file.startsWith('dist/') && !/\.(js|d\.ts)(\.map)?$/.test(file))).toEqual([]);
    expect([...files].filter((file) => /(^|\/)(test|tests|src|demo|bench|examples|fixtures)\/|\.test\./.test(file))).toEqual([]);
  });

  it('holds every target of `exports`, and the `imports` targets that point into the package', () => {
    const exported = Object.values(packageJson.exports).flatMap(targets);
    const imported = Object.values(packageJson.imports ?? {})
      .flatMap(targets)
      .filter((target) => target.startsWith('./'));
    expect(exported.length).toBeGreaterThan(Object.keys(packageJson.exports).length); // types + default per sub-path
    expect(imported.length).toBeGreaterThan(0);
    for (const target of [...exported, ...imported]) {
      expect(target, 'a target is a ./ path').toMatch(/^\.\//);
      expect(files, target).toContain(inPackage(target));
    }
  });

  it('holds every .d.ts that an exported types file references, and every module that an entry imports', () => {
    const typeEntries = Object.values(packageJson.exports)
      .flatMap(targets)
      .filter((target) => target.endsWith('.d.ts'))
      .map(inPackage);
    const types = closure(typeEntries, declarationOf);
    expect(types.reached.size).toBeGreaterThan(typeEntries.length);
    expect([...types.reached].filter((file) => !files.has(file))).toEqual([]);

    const moduleEntries = [...Object.values(packageJson.exports), ...Object.values(packageJson.imports ?? {})]
      .flatMap(targets)
      .filter((target) => target.startsWith('./dist/') && target.endsWith('.js'))
      .map(inPackage);
    const modules = closure(moduleEntries, relative);
    expect([...modules.reached].filter((file) => !files.has(file))).toEqual([]);

    // What they import from outside is a dependency, an optional peer (map libraries, Redis clients), the package
    // itself, a `#` import of package.json, or a built-in: never a devDependency that an app would not have.
    const declared = new Set([packageJson.name, ...Object.keys(packageJson.dependencies ?? {}), ...Object.keys(packageJson.peerDependencies ?? {})]);
    const undeclared = [...types.bare, ...modules.bare].filter((specifier) => {
      if (specifier.startsWith('#')) return !(specifier in (packageJson.imports ?? {}));
      if (specifier.startsWith('node:') || builtinModules.includes(specifier) || specifier.startsWith('cloudflare:')) return false;
      return !declared.has(packageOf(specifier)) && !declared.has(`@types/${packageOf(specifier)}`);
    });
    expect(undeclared).toEqual([]);
  });

  it('ships source maps that point only at the package’s own sources, with no path of the build machine', () => {
    // JS maps embed the TypeScript sources (sourcesContent), so stack traces and debuggers show them; declaration
    // maps point at ../src, which is not shipped.
    const maps = [...files].filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const file of maps) {
      const text = readFileSync(path.join(root, file), 'utf8');
      const map = JSON.parse(text) as { sources: string[]; sourceRoot?: string };
      expect(files, `${file} maps a shipped file`).toContain(file.replace(/\.map$/, ''));
      expect(map.sourceRoot ?? '', file).toBe('');
      for (const source of map.sources) {
        expect(path.posix.join(path.posix.dirname(file), source), `${file}: ${source}`).toMatch(/^src\//);
      }
      expect(text.includes(root), `${file} holds the build machine's path`).toBe(false);
    }
  });
});
