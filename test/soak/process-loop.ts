import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// The call loop of a soak process (test/support/redis-worker.ts, local-worker.ts): getToken, then the loopback API
// with that token, every `every` ms. A failure or an expired token is told at once (as an event, so that it
// survives a SIGKILL of this process); the success times come with the answer to `soak-stop`.

interface TokenSource {
  getToken(): Promise<{ accessToken: string; expiresAt: number }>;
}

export interface SoakLoopResult {
  calls: number;
  successes: number[];
}

export function startSoakLoop(
  session: TokenSource,
  options: { apiUrl: string; every: number; now: () => number; tell: (event: object) => void },
): () => Promise<SoakLoopResult> {
  const result: SoakLoopResult = { calls: 0, successes: [] };
  let running = true;
  const done = (async () => {
    while (running) {
      result.calls++;
      try {
        const token = await session.getToken();
        if (token.expiresAt <= options.now()) options.tell({ event: 'soak', kind: 'expired', at: Date.now(), detail: `${options.now() - token.expiresAt} ms` });
        const response = await fetch(options.apiUrl, { headers: { authorization: `Bearer ${token.accessToken}` } });
        await response.arrayBuffer();
        if (response.status === 200) result.successes.push(Date.now());
        else options.tell({ event: 'soak', kind: 'failed', at: Date.now(), detail: `HTTP ${response.status}` });
      } catch (error) {
        options.tell({ event: 'soak', kind: 'failed', at: Date.now(), detail: (error as { code?: string }).code ?? String(error) });
      }
      await new Promise((resolve) => setTimeout(resolve, options.every));
    }
  })();
  return async () => {
    running = false;
    await done;
    return result;
  };
}

/** Heap after a full garbage collection, and the handles and requests keeping the event loop alive. */
export function processUsage(): { heap: number; handles: number } {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return { heap: process.memoryUsage().heapUsed, handles: process.getActiveResourcesInfo().length };
}
