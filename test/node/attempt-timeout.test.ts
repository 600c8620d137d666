import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type SessionError } from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('hanging', 'hanging-secret');

it('the per-attempt timeout fires even when garbage is collected meanwhile (Node 20 AbortSignal.any holds inputs weakly)', async () => {
  let open = 0;
  suite.server.route((_req, res, url) => {
    if (url.pathname !== '/token') return false;
    open++;
    res.on('close', () => open--);
    return true; // accepted, never answered
  });
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { server, client } = suite;
  const session = suite.track(
    createSession({
      provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, attempts: 2, timeout: 300, backoff: 10 }),
      sharing: memorySharing(),
    }),
  );
  const collector = setInterval(gc, 20);
  try {
    const started = Date.now();
    const error = await session.getToken().catch((caught: SessionError) => caught);
    expect({ code: (error as SessionError).code, inTime: Date.now() - started < 2_000 }).toEqual({ code: 'timeout', inTime: true });
  } finally {
    clearInterval(collector);
  }
  await expect.poll(() => open).toBe(0); // every attempt's connection was closed
});
