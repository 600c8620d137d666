import { expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, memorySharing } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { denoKvSharing } from '../../src/deno-kv.js';
import { generateDPoPKey } from '../../src/dpop.js';

// `dpop: true` generates a key per process: a transport that hands the token to other processes (local sharing,
// Deno KV; Redis and the Durable Object are tested with their real servers in test/redis and test/workers) would make
// each member a credential of its own. Refused at createSession with invalid_options; one process (memory) is fine,
// and so is a key the app gives every member.

const provider = clientCredentials({ tokenUrl: 'http://127.0.0.1:9/token', clientId: 'c', clientSecret: 's' });
/** The shape denoKvSharing checks; never called (the session is refused before any use). */
const kv = { getMany: () => Promise.reject(new Error('unused')), atomic: () => ({}), watch: () => new ReadableStream() } as unknown as Parameters<typeof denoKvSharing>[0]['kv'];

const refusal = (create: () => unknown): unknown => {
  try {
    create();
    return undefined;
  } catch (error) {
    return error;
  }
};

it.each([
  ['local', () => localSharing()],
  ['deno-kv', () => denoKvSharing({ kv })],
])('%s sharing with dpop: true: invalid_options naming the fix', (kind, sharing) => {
  for (const dpop of [true, {}, { allowBearer: true }]) {
    const thrown = refusal(() => createSession({ provider, sharing: sharing(), dpop }));
    expect(isSessionError(thrown, 'invalid_options'), String(thrown)).toBe(true);
    expect((thrown as Error).message).toContain(`${kind} sharing hands the token to other processes`);
    expect((thrown as Error).message).toContain('dpop: { key }');
  }
});

it('memory sharing with dpop: true, and cross-process sharing with the app key: created', async () => {
  const memory = createSession({ provider, sharing: memorySharing(), dpop: true });
  const local = createSession({ provider, sharing: localSharing(), dpop: { key: await generateDPoPKey() } });
  await Promise.all([memory.close(), local.close()]);
});
