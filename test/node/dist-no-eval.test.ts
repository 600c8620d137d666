import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// Apps that deploy `script-src 'self'` without 'unsafe-eval' (see test/browser/content-security-policy.test.ts) can
// only use a package that never compiles code from strings. `npm test` builds dist/ before vitest runs.
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return jsFiles(file);
    return entry.name.endsWith('.js') ? [file] : [];
  });
}

it('no file in dist/ uses eval, new Function or a string-compiling timer', () => {
  expect(existsSync(dist), 'dist/ is missing: run `npm run build` first').toBe(true);
  const files = jsFiles(dist);
  expect(files.length).toBeGreaterThan(10);
  const patterns = [/\beval\s*\(/, /\bnew\s+Function\s*\(/, /(?<![.\w])Function\s*\(\s*['"`]/, /\bset(?:Timeout|Interval)\s*\(\s*['"`]/];
  const found = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (patterns.some((pattern) => pattern.test(line)) ? [`${path.relative(dist, file)}:${index + 1}: ${line.trim()}`] : [])),
  );
  expect(found).toEqual([]);
});
