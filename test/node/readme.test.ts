import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const outDir = path.join(root, 'test-results/readme-samples');

/**
 * Every ```ts block in README.md is a self-contained module that must type-check against the sources, so the
 * quick starts cannot drift from the API.
 */
it('every TypeScript sample in README.md type-checks', async () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  // ```tsx blocks (the React binding) are type-checked as .tsx.
  const samples = [...readme.matchAll(/```(tsx?)\n([\s\S]*?)```/g)].map((match) => ({ extension: match[1] ?? 'ts', code: match[2] ?? '' }));
  expect(samples.length).toBeGreaterThan(0);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  samples.forEach(({ extension, code }, index) => writeFileSync(path.join(outDir, `sample-${index + 1}.${extension}`), `${code}\nexport {};\n`));
  writeFileSync(
    path.join(outDir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: { noUnusedLocals: false, baseUrl: '../..', jsx: 'react-jsx' },
      include: ['./*.ts', './*.tsx'],
    }),
  );
  const result = await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', outDir], {
    cwd: root,
  }).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  expect(result).toBe('');
}, 60_000);
