// The types of `#dpop-origin-key` (package.json `imports`) for type-checking the sources before `dist/` exists: both
// of its modules export `loadOrCreateKey` as `browser-key.ts` does. A declaration file, not a `.ts` path, so that
// esbuild (which reads tsconfig.json `paths` too) resolves `#dpop-origin-key` by its conditions, as an app's bundler does.
export { loadOrCreateKey } from './browser-key.js';
