/**
 * `npm run bench`: runs every benchmark script in bench/ (each prints its own numbers), one after the other so that
 * they do not compete for the CPU. `npm run bench -- client` runs only the scripts whose name contains `client`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const scripts = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && name !== 'run.ts')
  .filter((name) => filters.length === 0 || filters.some((filter) => name.includes(filter)))
  .sort();

let failed = 0;
for (const script of scripts) {
  console.log(`\n▶ bench/${script}`);
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, script)], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(`bench/${script} exited with ${result.status ?? result.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
