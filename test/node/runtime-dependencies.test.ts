import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

// `npm audit --omit=dev` cannot run here: the registry answers its bulk advisory endpoint with 405, and
// `npm audit signatures` needs sigstore's TUF repository, which a loopback-only CI cannot reach. So the runtime
// dependency tree was checked by hand against the advisories that could be found (README, "Security": what was
// checked and how), and this test pins that tree as package-lock.json installs it: a dependency added, removed or
// moved to another version fails here until it has been checked again and this list and the README updated.
const CHECKED = [
  '@babel/runtime@7.29.7',
  'broadcast-channel@7.4.0',
  'eventemitter3@4.0.7',
  'idb-keyval@6.3.0',
  'jose@6.2.18',
  'ky@1.14.3',
  'oauth4webapi@3.8.8',
  'oblivious-set@2.0.0',
  'p-finally@1.0.0',
  'p-queue@6.6.2',
  'p-timeout@3.2.0',
  'unload@2.4.1',
  'zod@4.6.7',
];

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
}

/** Every package `npm ci --omit=dev` installs: the closure of the dependencies, resolved as Node resolves them. */
function runtimeTree(): string[] {
  const lock = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const found = new Map<string, string>();
  const visit = (name: string, from: string): void => {
    // Node looks in the requiring package's own node_modules, then in each parent's.
    for (let base = from; ; base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : '') {
      const key = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
      const entry = lock.packages[key];
      if (entry !== undefined) {
        if (found.has(key)) return;
        found.set(key, `${name}@${entry.version}`);
        for (const dependency of Object.keys(entry.dependencies ?? {})) visit(dependency, key);
        return;
      }
      if (base === '') throw new Error(`${name} (needed by ${from || 'the package'}) is not in package-lock.json`);
    }
  };
  for (const dependency of Object.keys(lock.packages['']?.dependencies ?? {})) visit(dependency, '');
  return [...new Set(found.values())].sort();
}

it('the runtime dependency tree is the one checked by hand for advisories', () => {
  expect(runtimeTree()).toEqual(CHECKED);
});
