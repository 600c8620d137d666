/**
 * Where the bytes of each `.size-limit.js` bundle go: the bundle built as size-limit builds it (esbuild, minified,
 * the same loader file, `ignore` list and `modifyEsbuildConfig`, e.g. a Worker's conditions), then every input's minified bytes from esbuild's metafile, grouped by
 * package (`zod`, `ky`, …) or by our own folder (`src/core`, `src/sharing/browser`, …).
 *
 * Run after `npm run build`: `npx tsx scripts/size-breakdown.ts [name filter] [--modules]`. Gzip is measured for the
 * whole bundle only, as size-limit counts it (a module's gzip share is not additive); `--modules` also lists the ten largest inputs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';

interface Check {
  readonly name: string;
  readonly path: string | readonly string[];
  readonly import: string | Readonly<Record<string, string>>;
  readonly ignore?: readonly string[];
  readonly limit: string;
  readonly modifyEsbuildConfig?: (config: BuildOptions) => BuildOptions;
}

const root = resolve(import.meta.dirname, '..');
const checks = ((await import(pathToFileURL(join(root, '.size-limit.js')).href)) as { default: Check[] }).default;
const filter = process.argv.slice(2).find((arg) => !arg.startsWith('--'));
const showModules = process.argv.includes('--modules');

function loader(check: Check): string {
  const imports = typeof check.import === 'string' ? { [String(check.path)]: check.import } : check.import;
  return Object.entries(imports)
    .map(([file, names]) => `import ${names} from ${JSON.stringify(resolve(root, file))}\nconsole.log(${names.replace(/[{}]/g, '').trim()})\n`)
    .join('');
}

/** `zod`, `@noble/hashes`, or our own folder (`src/core`, `src/sharing/browser`). */
function groupOf(input: string): string {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (dependency !== null) return dependency[1]!;
  const own = /(?:^|\/)dist\/(.+)\/[^/]+$/.exec(input);
  if (own !== null) return `src/${own[1]!}`;
  return /(?:^|\/)dist\//.test(input) ? 'src (entry files)' : input;
}

async function measure(check: Check): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'size-breakdown-'));
  try {
    const entry = join(dir, 'entry.js');
    await writeFile(entry, loader(check));
    const options: BuildOptions = {
      entryPoints: [entry],
      bundle: true,
      minify: true,
      treeShaking: true,
      metafile: true,
      write: false,
      outdir: join(dir, 'out'),
      external: [...(check.ignore ?? [])],
      logLevel: 'silent',
    };
    const result = await build({ ...(check.modifyEsbuildConfig?.(options) ?? options), metafile: true, write: false });
    const output = result.outputFiles[0]!;
    const meta: Metafile = result.metafile;
    const inputs = Object.values(meta.outputs)[0]!.inputs;
    const groups = new Map<string, number>();
    for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
      groups.set(groupOf(input), (groups.get(groupOf(input)) ?? 0) + bytesInOutput);
    }
    // size-limit subtracts what an empty loader costs (more when `ignore` adds esbuild's require shim): the same here.
    const empty = output.text.includes('Dynamic require of ') ? 182 : 46;
    const gzip = gzipSync(output.contents, { level: 9 }).length - empty;
    console.log(`\n## ${check.name}\nminified ${output.contents.length} B, gzip ${gzip} B (${(gzip / 1000).toFixed(2)} kB), limit ${check.limit}`);
    for (const [group, bytes] of [...groups].sort((a, b) => b[1] - a[1])) {
      if (bytes > 0) console.log(`  ${String(bytes).padStart(7)}  ${group}`);
    }
    if (showModules) {
      console.log('  largest inputs:');
      for (const [input, { bytesInOutput }] of Object.entries(inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput).slice(0, 10)) {
        console.log(`  ${String(bytesInOutput).padStart(7)}  ${input.replace(/^.*node_modules\//, '')}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const check of checks) {
  if (filter === undefined || check.name.includes(filter)) await measure(check);
}
