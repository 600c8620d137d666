import { expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, memorySharing } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { denoKvSharing } from '../../src/deno-kv.js';
import { generateDPoPKey } from '../../src/dpop.js';
import { loadSessionDPoP } from '../../src/dpop/session-dpop.js';
import { systemClock } from '../../src/core/clock.js';

// `dpop: true` generates a key per process: a transport that hands the token to other processes (local sharing,
// Deno KV; Redis and the Durable Object are tested with their real servers in test/redis and test/workers) would make
// each member a credential of its own. Refused with invalid_options by the DPoP code (loaded on first use, so that no
// bundle without DPoP grows), before any token request; one process (memory) is fine, and so is a key the app gives
// every member.

const provider = clientCredentials({ tokenUrl: 'http://127.0.0.1:9/token', clientId: 'c', clientSecret: 's' });
/** The shape denoKvSharing checks; never called. */
const kv = { getMany: () => Promise.reject(new Error('unused')), atomic: () => ({}), watch: () => new ReadableStream() } as unknown as Parameters<typeof denoKvSharing>[0]['kv'];

it('local sharing with dpop: true (or a dpop object without key): every getToken rejects invalid_options naming the fix, no request', async () => {
  for (const dpop of [true, {}, { allowBearer: true }]) {
    const session = createSession({ provider, sharing: localSharing(), dpop });
    for (let call = 0; call < 2; call++) {
      const error = await session.getToken().then(() => undefined, (e: unknown) => e);
      expect(isSessionError(error, 'invalid_options'), String(error)).toBe(true);
      expect((error as Error).message).toContain('local sharing hands the token to other processes');
      expect((error as Error).message).toContain('dpop: { key }');
    }
    await session.close();
  }
}, 30_000);

it('Deno KV, Redis, Durable Object and local sharing say they cross processes; the DPoP code refuses a generated key with them', () => {
  const sharing = denoKvSharing({ kv });
  expect(sharing.acrossProcesses).toBe(true);
  expect(localSharing().acrossProcesses).toBe(true);
  expect(memorySharing().acrossProcesses).toBeFalsy();
  for (const option of [true, {}] as const) {
    const thrown = (() => {
      try {
        loadSessionDPoP(option, systemClock, undefined, undefined, sharing);
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    expect(isSessionError(thrown, 'invalid_options')).toBe(true);
    expect((thrown as Error).message).toContain('deno-kv sharing hands the token to other processes');
  }
  // The browser's origin-wide key is every context's: not refused (no browser transport crosses processes anyway).
  expect(() => loadSessionDPoP(true, systemClock, undefined, 'credential', sharing)).not.toThrow();
});

it('memory sharing with dpop: true, and cross-process sharing with the app key: no refusal', async () => {
  const key = await generateDPoPKey();
  expect(() => loadSessionDPoP(true, systemClock, undefined, undefined, memorySharing())).not.toThrow();
  expect(() => loadSessionDPoP({ key }, systemClock, undefined, undefined, localSharing())).not.toThrow();
});
