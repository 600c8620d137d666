import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client.js';
import { createSession, customProvider, memorySharing, type Session } from '../../src/index.js';

let api: Server;
let origin = '';
let calls = 0;
let session: Session;

beforeAll(async () => {
  // 503 with the Retry-After of the query on the first call, then 200.
  api = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (calls++ === 0) res.writeHead(503, { 'retry-after': url.searchParams.get('after') ?? '' }).end();
    else res.end('ok');
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const now = Date.now();
  session = createSession({
    provider: customProvider({ key: 'retry-after', fetchToken: async () => ({ accessToken: 't', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 }) }),
    sharing: memorySharing(),
  });
});
afterAll(async () => {
  await session.close();
  api.closeAllConnections();
  await new Promise((resolve) => api.close(resolve));
});

async function timed(after: string): Promise<{ ms: number; outcome: string; calls: number }> {
  calls = 0;
  const client = createClient(session, { prefixUrl: origin, maxRetryAfter: 2_000 });
  const started = Date.now();
  const outcome = await client.get(`x?after=${encodeURIComponent(after)}`).then(
    (response) => String(response.status),
    (error: Error) => error.name,
  );
  return { ms: Date.now() - started, outcome, calls };
}

describe('createClient and Retry-After values that are not a number of seconds', () => {
  it('"1e309" (infinite) is longer than maxRetryAfter: fails at once, as documented — not a wait of maxRetryAfter', async () => {
    const { ms, outcome } = await timed('1e309');
    // Observed: waits the full maxRetryAfter (2 s here, 60 s by default), then retries.
    expect({ failedAtOnce: ms < 1_000, outcome }).toEqual({ failedAtOnce: true, outcome: 'HTTPError' });
  });

  it('garbage ("soon") is ignored: ky’s normal backoff, not a wait of maxRetryAfter', async () => {
    const { ms, outcome } = await timed('soon');
    expect(outcome).toBe('200');
    expect(ms).toBeLessThan(1_000);
  });
});
