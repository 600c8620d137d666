import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * An esbuild plugin that resolves `shared-session` and `shared-session/<entry>` through the package's own `exports`
 * map to `dist/`, so that fixtures import the *built* package exactly as an app's bundler would. (`npm test` builds
 * first.)
 */
export const builtPackage: Plugin = {
  name: 'shared-session-dist',
  setup(esbuild) {
    const exportsMap = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { default: string } | string>;
    }).exports;
    esbuild.onResolve({ filter: /^shared-session(\/.*)?$/ }, (args) => {
      const target = exportsMap[`.${args.path.slice('shared-session'.length)}`];
      if (target === undefined) return { errors: [{ text: `shared-session does not export ${args.path}` }] };
      return { path: path.join(root, typeof target === 'string' ? target : target.default) };
    });
  },
};
