// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'docs/', 'coverage/', 'test-results/', 'node_modules/', '**/*.d.ts', 'test/**/*.bundled.mjs' /* test processes' esbuild bundles (test/support/test-process.ts), gitignored */] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // Programs whose output is their result (the Deno fixtures print the line their test reads).
    files: ['bench/**', 'demo/**', 'scripts/**', 'examples/**', 'test/deno/fixtures/**', 'test/deno/deno-kv/**', 'test/deno/review-deno-kv/**', 'test/deno/deno-kv.test.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
