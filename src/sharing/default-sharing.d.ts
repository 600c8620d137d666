// The types of `#default-sharing` (package.json `imports`) for type-checking the sources before `dist/` exists: both
// of its modules export what `default.ts` does. A declaration file, not a `.ts` path, so that esbuild (which reads
// tsconfig.json `paths` too) resolves `#default-sharing` by its conditions, as an app's bundler does.
export { defaultSharing } from './default.js';
