import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The guides under docs/, each a Markdown file. */
function guides(dir = 'docs'): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const relative = path.join(dir, name);
    if (statSync(path.join(root, relative)).isDirectory()) return guides(relative);
    return name.endsWith('.md') ? [relative] : [];
  });
}

/**
 * Every ```ts and ```tsx block of the given Markdown files is a self-contained module that must type-check against the
 * sources, so the quick starts and guides cannot drift from the API.
 */
async function typeCheckSamples(files: readonly string[], outName: string): Promise<{ samples: number; errors: string }> {
  const outDir = path.join(root, 'test-results', outName);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  let samples = 0;
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    // ```tsx blocks (the React binding) are type-checked as .tsx.
    for (const match of text.matchAll(/```(tsx?)\n([\s\S]*?)```/g)) {
      samples += 1;
      const name = `${file.replaceAll(/[/.]/g, '_')}-${samples}.${match[1] ?? 'ts'}`;
      writeFileSync(path.join(outDir, name), `// ${file}\n${match[2] ?? ''}\nexport {};\n`);
    }
  }
  writeFileSync(
    path.join(outDir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: { noUnusedLocals: false, baseUrl: '../..', jsx: 'react-jsx' },
      include: ['./*.ts', './*.tsx'],
    }),
  );
  const errors = await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', outDir], {
    cwd: root,
  }).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  return { samples, errors };
}

it('every TypeScript sample in README.md type-checks', async () => {
  const { samples, errors } = await typeCheckSamples(['README.md'], 'readme-samples');
  expect(samples).toBeGreaterThan(0);
  expect(errors).toBe('');
}, 300_000); // a type-check of every sample: ≈ 35 s idle, minutes on a busy machine; time is not what this test checks

it('every TypeScript sample in the guides (docs/) type-checks', async () => {
  const files = guides();
  expect(files.length).toBeGreaterThan(10);
  const { samples, errors } = await typeCheckSamples(files, 'docs-samples');
  expect(samples).toBeGreaterThan(10);
  expect(errors).toBe('');
}, 300_000);
