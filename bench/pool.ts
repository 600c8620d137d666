/**
 * `npm run bench` (pool part): memory per pooled session at 100,000 sessions (goal ≤ 1 KB) and lookups/s.
 * Needs `--expose-gc` (bench/run.ts passes it) so that heap deltas are measured after a full collection.
 * Prints numbers; asserts nothing.
 */
import { createSession, customProvider, memorySharing, refreshTokenGrant } from '../src/index.js';
import { createSessionPool } from '../src/pool.js';

const SESSIONS = 100_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench does)');

function heapUsed(): number {
  for (let round = 0; round < 3; round++) gc!();
  return process.memoryUsage().heapUsed;
}

const results: Record<string, { value: string }> = {};

// 1. Sessions as a multi-user server creates them: one refresh-token session per user, no token fetched yet.
{
  const sharing = memorySharing();
  const pool = createSessionPool({
    max: SESSIONS,
    idleTtl: Number.POSITIVE_INFINITY,
    create: (key) =>
      createSession({
        provider: refreshTokenGrant({ tokenUrl: 'https://auth.example/token', clientId: 'app', refreshToken: `rt-${key}` }),
        sharing,
      }),
  });
  const before = heapUsed();
  for (let index = 0; index < SESSIONS; index++) pool.get(`user-${index}`);
  const after = heapUsed();
  results[`memory per pooled session (${SESSIONS.toLocaleString('en')}, refreshTokenGrant, no token yet)`] = {
    value: `${((after - before) / SESSIONS).toFixed(0)} B`,
  };

  // Lookups of existing keys (each one hashes the key with SHA-256 and moves the entry in the LRU order).
  const lookups = 1_000_000;
  const keys = Array.from({ length: 1024 }, (_, index) => `user-${(index * 97) % SESSIONS}`);
  for (let index = 0; index < 100_000; index++) pool.get(keys[index & 1023]!);
  let started = performance.now();
  for (let index = 0; index < lookups; index++) pool.get(keys[index & 1023]!);
  results['pool.get(key), existing key'] = { value: `${Math.round(lookups / ((performance.now() - started) / 1000)).toLocaleString('en')} lookups/s` };

  started = performance.now();
  const misses = 20_000;
  for (let index = 0; index < misses; index++) pool.get(`new-user-${index}`); // each one evicts the LRU session
  results['pool.get(key), miss + create + evict LRU'] = { value: `${Math.round(misses / ((performance.now() - started) / 1000)).toLocaleString('en')} ops/s` };
  await pool.close();
}

// 2. Sessions that hold a token (minted locally by a custom provider: no network, same session state).
{
  const sharing = memorySharing();
  const now = Date.now();
  const pool = createSessionPool({
    max: SESSIONS,
    idleTtl: Number.POSITIVE_INFINITY,
    create: (key) =>
      createSession({
        provider: customProvider({
          key,
          fetchToken: () => Promise.resolve({ accessToken: `at-${key}-0123456789abcdef0123456789`, tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 }),
        }),
        sharing,
      }),
  });
  const before = heapUsed();
  for (let start = 0; start < SESSIONS; start += 5_000) {
    await Promise.all(Array.from({ length: 5_000 }, (_, index) => pool.getToken(`user-${start + index}`)));
  }
  const after = heapUsed();
  results[`memory per pooled session (${SESSIONS.toLocaleString('en')}, customProvider, holding a token)`] = {
    value: `${((after - before) / SESSIONS).toFixed(0)} B`,
  };

  const calls = 1_000_000;
  const keys = Array.from({ length: 1024 }, (_, index) => `user-${(index * 97) % SESSIONS}`);
  for (let index = 0; index < 100_000; index++) await pool.getToken(keys[index & 1023]!);
  const started = performance.now();
  for (let index = 0; index < calls; index++) await pool.getToken(keys[index & 1023]!);
  results['pool.getToken(key), cached token'] = { value: `${Math.round(calls / ((performance.now() - started) / 1000)).toLocaleString('en')} ops/s` };
  await pool.close();
}

console.log('shared-session pool bench (Node %s)', process.version);
console.table(results);
