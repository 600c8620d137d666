import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const src = path.join(root, 'src');
const { exports } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const entryFiles = Object.keys(exports)
  .filter((subpath) => subpath !== './package.json')
  .map((subpath) => `${subpath === '.' ? 'index' : subpath.slice(2)}.ts`);

// The dependency rule between folders is checked by dependency-cruiser (`npm run check:deps`); this is the rest of
// the layout rule: the top of src/ is the public face, and nothing else.
it('src/ holds one entry file per `exports` sub-path and otherwise only capability folders', () => {
  const files = readdirSync(src, { withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
  expect(files.sort()).toEqual([...entryFiles].sort());
});

it('every entry file opens with its @packageDocumentation and only re-exports', () => {
  for (const file of entryFiles) {
    const text = readFileSync(path.join(src, file), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const firstComment = ts.getLeadingCommentRanges(text, 0)?.[0];
    expect(firstComment && text.slice(firstComment.pos, firstComment.end), file).toContain('@packageDocumentation');
    for (const statement of source.statements) {
      const reexport = ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined;
      expect(reexport, `${file}: ${statement.getText().slice(0, 60)}`).toBe(true);
    }
  }
});
