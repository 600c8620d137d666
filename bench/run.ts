/**
 * `npm run bench`: runs every benchmark script in bench/ (each prints its own table of pairs: ours next to its
 * baseline, measured in the same run), one after the other so that they do not compete for the CPU.
 * `npm run bench -- client` runs only the scripts whose name contains `client`; `npm run bench -- sign-in.ts` runs that
 * script alone.
 * `npm run bench -- --report` also writes bench/REPORT.md and the charts in bench/charts/ from the results
 * (`--report-dir <dir>` writes them elsewhere; `--report-only` writes them again from the last run's results).
 * `--smoke` runs every bench with tiny sizes (the smoke test does).
 *
 * Each script is compiled with esbuild and run by plain Node against the built package: its `../src/<entry>.js`
 * imports are pointed at `dist/<entry>.js`, the code an app gets. Not through tsx: tsx compiles with `keepNames`,
 * which defines `name` on every function and class and so turns each closure's properties into a dictionary, about
 * 1.5 KB more per pooled session than the shipped code costs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { writeReport } from './lib/report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
// Inside node_modules, so that the compiled scripts resolve packages from the project's node_modules.
const outdir = path.join(root, 'node_modules', '.cache', 'shared-session-bench');
const args = process.argv.slice(2);
const reportAt = args.indexOf('--report-dir');
const reportDir =
  reportAt >= 0 ? path.resolve(args[reportAt + 1] ?? '') : args.includes('--report') || args.includes('--report-only') ? here : undefined;
const smoke = args.includes('--smoke');
// `--report-only`: write the report again from the last run's results, running no bench.
const reportOnly = args.includes('--report-only');
const filters = args.filter((arg, index) => !arg.startsWith('--') && (reportAt < 0 || index !== reportAt + 1));
// Each bench writes its result here (bench/lib/pairs.ts); the report reads them all.
const resultsDir = path.join(outdir, smoke ? 'results-smoke' : 'results');
const scripts = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && name !== 'run.ts')
  // A filter ending in `.ts` names one script exactly (`sign-in.ts` is not `dpop-sign-in.ts`); any other is a part of names.
  .filter((name) => filters.length === 0 || filters.some((filter) => (filter.endsWith('.ts') ? name === filter : name.includes(filter))))
  .sort();

if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('run `npm run build` first (npm run bench does)');

let failed = 0;
for (const script of reportOnly ? [] : scripts) {
  console.log(`\n▶ bench/${script}`);
  // A bench that fails leaves no stale result behind; the others' results stay, so one bench can be run again alone.
  rmSync(path.join(resultsDir, script.replace(/\.ts$/, '.json')), { force: true });
  const outfile = path.join(outdir, script.replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [path.join(here, script)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    plugins: [
      {
        name: 'built-package',
        setup(context) {
          context.onResolve({ filter: /\/src\/[\w-]+\.js$/ }, (args) => {
            const entry = path.resolve(args.resolveDir, args.path).replace(`${path.sep}src${path.sep}`, `${path.sep}dist${path.sep}`);
            return { path: entry, external: true };
          });
        },
      },
      {
        // Bundled, a module's `import.meta` would be the bundle's: keep each source file's own location.
        name: 'own-import-meta',
        setup(context) {
          context.onLoad({ filter: /\.ts$/ }, (args) => {
            if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
            const contents = readFileSync(args.path, 'utf8')
              .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
              .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)));
            return { contents, loader: 'ts' };
          });
        },
      },
    ],
  });
  const result = spawnSync(process.execPath, ['--expose-gc', outfile], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_OUT: resultsDir, ...(smoke ? { BENCH_SMOKE: '1' } : {}) },
  });
  if (result.status !== 0) {
    failed++;
    console.error(`bench/${script} exited with ${result.status ?? result.signal}`);
  }
}
if (reportDir !== undefined) {
  const written = writeReport(resultsDir, reportDir);
  console.log(`\nreport: ${path.relative(process.cwd(), written)}`);
}
process.exit(failed === 0 ? 0 : 1);
