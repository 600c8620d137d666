/**
 * `npm run bench -- pool`: the session pool next to a plain `Map` holding the same sessions, in one run.
 * - memory per session at 100,000 sessions (goal ≤ 1 KB), pool vs Map, interleaved rounds, for sessions without a
 *   token (refresh-token sessions of a multi-user server) and sessions holding one;
 * - lookups/s of an existing key (tinybench): `pool.get(key)` hashes the key with SHA-256 and moves the entry in the
 *   LRU order; `map.get(key)` does neither.
 * Needs `--expose-gc` (bench/run.ts passes it) so that heap deltas are measured after a full collection.
 * Prints numbers; asserts nothing.
 */
import { createSession, customProvider, memorySharing, refreshTokenGrant, type Session } from '../src/index.js';
import { createSessionPool } from '../src/pool.js';
import { microPair } from './lib/micro.js';
import { median, report, type Row, smoke } from './lib/pairs.js';

const SESSIONS = smoke ? 2_000 : 100_000;
const MEMORY_ROUNDS = smoke ? 1 : 3;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench does)');

function heapUsed(): number {
  for (let round = 0; round < 3; round++) gc!();
  return process.memoryUsage().heapUsed;
}

type Kind = 'no-token' | 'token';
const now = Date.now();
const sharing = memorySharing();
function sessionFor(kind: Kind, key: string): Session {
  return createSession({
    provider:
      kind === 'no-token'
        ? refreshTokenGrant({ tokenUrl: 'https://auth.example/token', clientId: 'app', refreshToken: `rt-${key}` })
        : customProvider({
            key,
            fetchToken: () =>
              Promise.resolve({ accessToken: `at-${key}-0123456789abcdef0123456789`, tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 }),
          }),
    sharing,
  });
}

/** Bytes per session held by a pool, or by a plain Map of the same sessions. */
async function bytesPerSession(kind: Kind, holder: 'pool' | 'map'): Promise<number> {
  const before = heapUsed();
  let close: () => Promise<unknown>;
  let after: number;
  if (holder === 'pool') {
    const pool = createSessionPool({ max: SESSIONS, idleTtl: Number.POSITIVE_INFINITY, create: (key) => sessionFor(kind, key) });
    for (let start = 0; start < SESSIONS; start += 5_000) {
      const keys = Array.from({ length: Math.min(5_000, SESSIONS - start) }, (_, index) => `user-${start + index}`);
      if (kind === 'token') await Promise.all(keys.map((key) => pool.getToken(key)));
      else for (const key of keys) pool.get(key);
    }
    after = heapUsed();
    close = () => pool.close();
  } else {
    const map = new Map<string, Session>();
    for (let start = 0; start < SESSIONS; start += 5_000) {
      const keys = Array.from({ length: Math.min(5_000, SESSIONS - start) }, (_, index) => `user-${start + index}`);
      for (const key of keys) map.set(key, sessionFor(kind, key));
      if (kind === 'token') await Promise.all(keys.map((key) => map.get(key)!.getToken()));
    }
    after = heapUsed();
    close = () => Promise.all([...map.values()].map((session) => session.close()));
  }
  await close();
  return (after - before) / SESSIONS;
}

const rows: Row[] = [];
const sessions = SESSIONS.toLocaleString('en');
for (const kind of ['no-token', 'token'] as const) {
  const pool: number[] = [];
  const map: number[] = [];
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    pool.push(await bytesPerSession(kind, 'pool'));
    map.push(await bytesPerSession(kind, 'map'));
  }
  rows.push({
    id: `pool-bytes-${kind}`,
    figure: `memory per session at ${sessions} (${kind === 'no-token' ? 'refreshTokenGrant, no token yet' : 'customProvider, holding a token'})`,
    unit: 'B/session',
    better: 'lower',
    ours: { label: 'createSessionPool', values: pool },
    baseline: { label: 'plain Map of the same sessions', values: map },
    goal: '≤ 1 KB/session',
    met: median(pool) <= 1024,
  });
}

// Lookups of existing keys, among SESSIONS sessions.
{
  const pool = createSessionPool({ max: SESSIONS, idleTtl: Number.POSITIVE_INFINITY, create: (key) => sessionFor('no-token', key) });
  const map = new Map<string, Session>();
  for (let index = 0; index < SESSIONS; index++) {
    const key = `user-${index}`;
    map.set(key, pool.get(key));
  }
  const keys = Array.from({ length: 1024 }, (_, index) => `user-${(index * 97) % SESSIONS}`);
  let sink = 0;
  const measured = await microPair(
    {
      label: 'pool.get(key)',
      batch: keys.length,
      fn: () => {
        for (const key of keys) sink += pool.get(key).key.length;
      },
    },
    {
      label: 'map.get(key)',
      batch: keys.length,
      fn: () => {
        for (const key of keys) sink += map.get(key)!.key.length;
      },
    },
  );
  if (sink === 0) throw new Error('unreachable');
  rows.push({
    id: 'pool-lookups',
    figure: `lookups of an existing key among ${sessions} sessions`,
    unit: 'lookups/s',
    better: 'higher',
    ours: { label: 'pool.get(key) (SHA-256 of the key, LRU move)', values: measured.ours },
    baseline: { label: 'map.get(key)', values: measured.baseline },
    goal: 'report the ratio',
  });
  await pool.close();
}

report({
  bench: 'pool',
  title: 'shared-session: the session pool vs a plain Map',
  rows,
  notes: ['the pool also bounds the sessions (LRU, idle TTL) and closes them; a Map does neither'],
});
