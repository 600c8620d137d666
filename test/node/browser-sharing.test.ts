import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type * as SharedSession from '../../src/index.js';
import { browserSharing } from '../../src/sharing/browser/sharing.js';
import { channelName, DATABASE, envelope, FORMAT, parseMessage, recordSchema } from '../../src/sharing/browser/messages.js';

const run = promisify(execFile);
const key = 'client_credentials|https%3A%2F%2Fauth.example%2Ftoken|app|';
const token = { accessToken: 'at', tokenType: 'Bearer', expiresAt: 2_000_000_000_000, issuedAt: 1_900_000_000_000 };

// The wire format only; the behaviour is proven in Chromium (test/browser/*).
describe('browser sharing messages', () => {
  it('accepts each well-formed message and keeps only known fields', () => {
    for (const message of [
      envelope(key, { type: 'token', token }),
      envelope(key, { type: 'request', id: 'r1', rejected: 'at' }),
      envelope(key, { type: 'request', id: 'r1' }),
      envelope(key, { type: 'failed', id: 'r1', code: 'invalid_client' }),
      envelope(key, { type: 'failed', id: 'r1', code: 'rate_limited', retryAfter: 60_000 }),
      envelope(key, { type: 'busy' }),
      envelope(key, { type: 'clear', at: 1 }),
      envelope(key, { type: 'leader' }),
      envelope(key, { type: 'election', data: { context: 'leader', action: 'tell', token: 'x' } }),
    ]) {
      expect(parseMessage(message)).toEqual(message);
    }
    expect(parseMessage({ ...envelope(key, { type: 'token', token }), refreshToken: 'rt' })).not.toHaveProperty('refreshToken');
  });

  it('rejects malformed, versionless, other-version and unknown messages', () => {
    const bad: unknown[] = [
      undefined,
      null,
      'token',
      [],
      { type: 'token' },
      { type: 'constructor', v: FORMAT, key },
      { type: '__proto__', v: FORMAT, key },
      { ...envelope(key, { type: 'token', token }), v: FORMAT - 1 },
      { ...envelope(key, { type: 'token', token }), v: FORMAT + 1 },
      { ...envelope(key, { type: 'token', token }), v: undefined },
      envelope(key, { type: 'token', token: { ...token, accessToken: '' } }),
      envelope(key, { type: 'token', token: { ...token, expiresAt: -1 } }),
      { ...envelope(key, { type: 'failed', id: 'r1', code: 'invalid_client' }), code: 'closed' },
      // A failure answers one request: without its id it answers none.
      { ...envelope(key, { type: 'failed', id: 'r1', code: 'invalid_client' }), id: undefined },
      { ...envelope(key, { type: 'failed', id: 'r1', code: 'rate_limited' }), retryAfter: -1 },
      { ...envelope(key, { type: 'failed', id: 'r1', code: 'rate_limited' }), retryAfter: '60' },
      { ...envelope(key, { type: 'clear', at: 1 }), at: '1' },
      { ...envelope(key, { type: 'request', id: 'r1' }), rejected: 42 },
      { ...envelope(key, { type: 'request', id: 'r1' }), id: undefined },
      { ...envelope(key, { type: 'request', id: 'r1' }), id: 'x'.repeat(65) },
    ];
    for (const message of bad) expect(parseMessage(message), JSON.stringify(message)).toBeUndefined();
  });

  it('validates stored records with their format version; a sign-out is a record too', () => {
    expect(recordSchema.safeParse({ v: FORMAT, key, token }).success).toBe(true);
    expect(recordSchema.safeParse({ v: FORMAT, key, token, refreshToken: 'rt' }).success).toBe(true);
    expect(recordSchema.safeParse({ v: FORMAT, key, clearedAt: 1_900_000_000_000, token }).success).toBe(true);
    expect(recordSchema.safeParse({ v: FORMAT, key, clearedAt: 1_900_000_000_000 }).success).toBe(true);
    expect(recordSchema.safeParse({ v: FORMAT, key, clearedAt: '1' }).success).toBe(false);
    expect(recordSchema.safeParse({ v: FORMAT - 1, key, token }).success).toBe(false);
    expect(recordSchema.safeParse({ v: FORMAT + 1, key, token }).success).toBe(false);
    expect(recordSchema.safeParse({ key, token }).success).toBe(false);
    expect(recordSchema.safeParse({ v: FORMAT, key, token: { accessToken: 'at' } }).success).toBe(false);
  });

  it('names the database and the channel after the format version and a SHA-256 of the key, never the key itself', () => {
    expect(DATABASE).toBe(`shared-session-v${FORMAT}`);
    const name = channelName(key);
    expect(name).toMatch(new RegExp(`^shared-session-v${FORMAT}:[A-Za-z0-9_-]{22}$`));
    expect(name).not.toContain('app');
    expect(channelName(`${key}x`)).not.toBe(name);
  });

  it('rejects a bad answerTimeout', () => {
    expect(() => browserSharing({ answerTimeout: -1 })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    expect(() => browserSharing({ answerTimeout: Number.NaN })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });
});

describe('the default transport outside browsers', () => {
  it('is memory in Node, even with an indexedDB global, and importing the package opens nothing', async () => {
    const script = `
      globalThis.indexedDB = {};
      const { createSession, staticToken } = await import('shared-session');
      const session = createSession({ provider: staticToken({ accessToken: 'a' }) });
      const token = await session.getToken();
      await session.close();
      console.log(JSON.stringify({ token: token.accessToken, leader: session.isLeader }));
    `;
    // The process exits by itself: no BroadcastChannel, lock or timer keeps it alive.
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
    expect(JSON.parse(stdout)).toEqual({ token: 'a', leader: true });
  });
});

describe('the root entry in a Workers-like runtime', () => {
  it('imports and runs without process, indexedDB, navigator or BroadcastChannel (as workerd resolves it)', async () => {
    const { build } = await import('esbuild');
    const { runInNewContext } = await import('node:vm');
    const bundled = await build({
      stdin: {
        contents: `export { createSession, staticToken } from './dist/index.js';`,
        resolveDir: process.cwd(),
        loader: 'js',
      },
      bundle: true,
      write: false,
      format: 'iife',
      globalName: 'sharedSession',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      // What wrangler resolves for workerd.
      conditions: ['workerd', 'worker', 'browser'],
      logLevel: 'silent',
    });
    // Globals workerd has (btoa too: key digests are base64url through it); none of process, indexedDB, navigator.
    const sandbox = { setTimeout, clearTimeout, queueMicrotask, AbortController, URLSearchParams, TextEncoder, btoa, console };
    const module = runInNewContext(`${bundled.outputFiles[0]!.text}; sharedSession`, sandbox) as typeof SharedSession;
    const session = module.createSession({ provider: module.staticToken({ accessToken: 'a' }) });
    expect((await session.getToken()).accessToken).toBe('a');
    await session.close();
  });
});
