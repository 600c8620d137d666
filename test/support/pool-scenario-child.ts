// One process of the seed's scenario (test/support/pool-scenario.ts): takes tile tasks over IPC, gets a token from its
// session (shared through localSharing, or its own with memorySharing), downloads the tile, then computes on the main
// thread for the task's time, as decoding and reprojecting would. Reports how long each getToken waited. Requests go
// through `createClient`, as an app's would: a token that expires on its way to a busy server (4 s tokens refreshed
// 0.5 s early, on a loaded machine) is answered 401, refreshed once for every caller that saw it, and retried.
import { createClient } from '../../src/client.js';
import { clientCredentials, createSession, isSessionError, memorySharing } from '../../src/index.js';
import { localSharing } from '../../src/node.js';

/** What the parent passes in `POOL_SCENARIO_CHILD` (JSON). */
export interface PoolChildConfig {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly dir: string;
  readonly sharing: 'local' | 'memory';
  readonly refreshBeforeExpiry: number;
}

/** Parent → child. */
export type PoolCommand =
  | { readonly cmd: 'tile'; readonly id: number; readonly url: string; readonly cpu: number }
  | { readonly cmd: 'block'; readonly id: number; readonly ms: number }
  | { readonly cmd: 'close'; readonly id: number };

/** Child → parent: answers carry the command's id; events do not. */
export type PoolMessage =
  | { readonly event: 'ready' }
  | { readonly event: 'leader'; readonly leading: boolean }
  | { readonly id: number; readonly status: number; readonly wait: number; readonly error?: string }
  | { readonly id: number; readonly done: true };

/** Busy CPU work on this thread for `ms` (a tile being decoded): nothing else of this process runs meanwhile. */
function compute(ms: number): void {
  const until = performance.now() + ms;
  let sink = 0;
  while (performance.now() < until) sink += Math.sqrt(sink + 1);
  if (Number.isNaN(sink)) throw new Error('unreachable: keeps the loop from being optimised away');
}

export function runPoolChild(): void {
  const config = JSON.parse(process.env.POOL_SCENARIO_CHILD ?? '{}') as PoolChildConfig;
  const send = (message: PoolMessage): void => {
    if (process.connected) process.send!(message);
  };
  const { tokenUrl, clientId, clientSecret, dir } = config;
  const session = createSession({
    provider: clientCredentials({ tokenUrl, clientId, clientSecret }),
    sharing: config.sharing === 'local' ? localSharing({ dir }) : memorySharing(),
    refreshBeforeExpiry: config.refreshBeforeExpiry,
  });
  session.on('leader', (leading) => send({ event: 'leader', leading }));
  const client = createClient(session, { retry: 0 });

  process.on('message', (command: PoolCommand) => {
    void (async () => {
      if (command.cmd === 'block') {
        compute(command.ms);
        return send({ id: command.id, done: true });
      }
      if (command.cmd === 'close') {
        await session.close();
        send({ id: command.id, done: true });
        return process.disconnect();
      }
      const asked = performance.now();
      try {
        await session.getToken();
        const wait = performance.now() - asked;
        const response = await client.get(command.url, { throwHttpErrors: false });
        await response.arrayBuffer();
        compute(command.cpu);
        send({ id: command.id, status: response.status, wait });
      } catch (error) {
        const status = (error as { response?: Response }).response?.status ?? 0;
        send({ id: command.id, status, wait: performance.now() - asked, error: isSessionError(error) ? error.code : String(error) });
      }
    })();
  });
  send({ event: 'ready' });
}
