#!/usr/bin/env node
/**
 * `shared-session`, the command line (`npx shared-session`, the package's `bin`): signs a person in once for every
 * process of this user, and hands fresh access tokens to GDAL, curl and scripts. See docs/cli.md.
 */
import { run } from './run.js';
import { processOutput } from './output.js';

const controller = new AbortController();
// Ctrl-C: every wait ends (the sign-in, a token request), the session is closed, and the exit code says so.
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

process.exitCode = await run(process.argv.slice(2), { output: processOutput, env: process.env, signal: controller.signal });
// The session is closed by now; what may still hold the event loop (fetch's idle keep-alive connections to the
// provider) holds nothing we need: a script's `$(shared-session token)` should not wait seconds for it.
setTimeout(() => process.exit(), 100).unref();
