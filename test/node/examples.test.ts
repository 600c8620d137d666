import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const outDir = path.join(root, 'test-results/tsdoc-examples');

/**
 * What the examples may use without declaring it: the values an app would have at hand, declared for an example
 * that uses a name and does not declare it itself. Everything the package exports is imported as well, so that an
 * example reads like a fragment of an app and still type-checks.
 */
const APP_CONTEXT: Record<string, string> = {
  maplibregl: "typeof import('maplibre-gl')",
  TileLayer: "typeof import('ol/layer/Tile.js').default",
  ImageLayer: "typeof import('ol/layer/Image.js').default",
  XYZ: "typeof import('ol/source/XYZ.js').default",
  ImageWMS: "typeof import('ol/source/ImageWMS.js').default",
  map: "import('leaflet').Map",
  style: "import('maplibre-gl').StyleSpecification",
  url: 'string',
  params: 'Record<string, unknown>',
  tokenUrl: 'string',
  clientId: 'string',
  clientSecret: 'string',
  refreshToken: 'string',
  session: 'Session',
  provider: 'TokenProvider',
  env: '{ TOKEN_COORDINATOR: CoordinatorNamespace<unknown> }',
  kv: 'DenoKv',
  app: '{ get(path: string, handler: (req: { headers: Record<string, string> }, res: { json(body: unknown): void }) => Promise<void>): void }',
  req: '{ headers: Record<string, string | string[] | undefined> }',
  self: '{ addEventListener(type: "fetch", listener: (event: AuthFetchEvent) => void): void }',
  userId: 'string',
  tokens: '{ get(userId: string): string }',
  input: "ProcessRequest['input']",
  output: "NonNullable<ProcessRequest['output']>",
  evalscript: 'string',
  expression: 'EarthEngineExpression',
  // The React binding's examples (JSX, type-checked as .tsx).
  createRoot: "typeof import('react-dom/client').createRoot",
  root: 'HTMLElement',
  App: '() => import(\'react\').ReactNode',
  issuer: 'string',
  project: 'string',
  showUser: '(user: UserClaims) => void',
  redirectUri: 'string',
};

/** `declare const` for each context name `code` uses without declaring it. */
function contextFor(code: string): string {
  return Object.entries(APP_CONTEXT)
    .filter(([name]) => new RegExp(`(?<![.\\w])${name}\\b`).test(code))
    .filter(([name]) => !new RegExp(`\\b(const|let|var|function|class)\\s+${name}\\b`).test(code))
    .map(([name, type]) => `declare const ${name}: ${type};`)
    .join('\n');
}

/** The package's entries (`exports` in package.json) and their public names (`type X` for types). */
function publicNames(): { specifier: string; names: string[] }[] {
  const exportsMap = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports;
  const entries = Object.keys(exportsMap)
    .filter((subpath) => subpath !== './package.json')
    .map((subpath) => ({
      specifier: subpath === '.' ? 'shared-session' : `shared-session/${subpath.slice(2)}`,
      file: path.join(root, 'src', `${subpath === '.' ? 'index' : subpath.slice(2)}.ts`),
    }));
  const program = ts.createProgram(
    entries.map((entry) => entry.file),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const seen = new Set<string>();
  return entries.map(({ specifier, file }) => {
    const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    const names = checker
      .getExportsOfModule(moduleSymbol)
      .filter((symbol) => !seen.has(symbol.name))
      .map((symbol) => {
        seen.add(symbol.name);
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        return target.flags & ts.SymbolFlags.Value ? symbol.name : `type ${symbol.name}`;
      });
    return { specifier, names };
  });
}

/** Imports of every public name, but those `code` imports from elsewhere itself (e.g. `createClient` from `redis`). */
function importsFor(code: string, entries: readonly { specifier: string; names: string[] }[]): string {
  const own = new Set(
    [...code.matchAll(/^import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'(?!shared-session)[^']+'/gm)].flatMap((match) =>
      match[1]!.split(',').map((name) => name.trim().split(/\s+as\s+/).pop()!),
    ),
  );
  return entries
    .map(({ specifier, names }) => {
      const kept = names.filter((name) => !own.has(name.replace(/^type /, '')));
      return kept.length === 0 ? '' : `import { ${kept.join(', ')} } from '${specifier}';`;
    })
    .join('\n');
}

/** Every `@example` of a TSDoc comment under src/, with where it is. */
function examples(): { where: string; code: string }[] {
  const found: { where: string; code: string }[] = [];
  const walk = (directory: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const file = path.join(directory, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(file, 'utf8');
        for (const comment of text.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
          const lines = comment[1]!.split('\n').map((line) => line.replace(/^\s*\* ?/, ''));
          const start = lines.findIndex((line) => line.startsWith('@example'));
          if (start === -1) continue;
          const rest = lines.slice(start + 1);
          const end = rest.findIndex((line) => line.startsWith('@'));
          const line = text.slice(0, comment.index).split('\n').length + start + 1;
          found.push({ where: `${path.relative(root, file)}:${line}`, code: (end === -1 ? rest : rest.slice(0, end)).join('\n') });
        }
      }
    }
  };
  walk(path.join(root, 'src'));
  return found;
}

/**
 * Every `@example` in the sources type-checks against the sources, as a fragment of an app (see APP_CONTEXT), so that
 * the examples the editor shows cannot drift from the API.
 */
it('every TSDoc @example in src/ type-checks', async () => {
  const found = examples();
  expect(found.length).toBeGreaterThanOrEqual(15);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const entries = publicNames();
  found.forEach(({ where, code }, index) => {
    // The prelude imports every public name; an example's own imports of them would be duplicates.
    const body = code.replace(/^import .* from 'shared-session(\/[\w-]+)?';$/gm, '');
    writeFileSync(path.join(outDir, `example-${index + 1}.${where.startsWith('src/react/') ? 'tsx' : 'ts'}`), `// ${where}\n${importsFor(body, entries)}\n${contextFor(body)}\n${body}\nexport {};\n`);
  });
  writeFileSync(
    path.join(outDir, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noUnusedLocals: false, baseUrl: '../..', jsx: 'react-jsx' }, include: ['./*.ts', './*.tsx', '../../test/support/earthengine.d.ts'] }),
  );
  const result = await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', outDir], { cwd: root }).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  // Each failing file starts with the source location of its example.
  const report = result.replace(/test-results\/tsdoc-examples\/example-(\d+)\.tsx?/g, (_match, index: string) => found[Number(index) - 1]!.where);
  expect(report).toBe('');
}, 300_000); // a type-check: ≈ 40 s idle, minutes on a busy machine; time is not what this test checks
