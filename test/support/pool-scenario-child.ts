// One process of the seed's scenario (test/support/pool-scenario.ts): takes tile tasks over IPC and runs each as
// pool-tile-worker.ts does (token, tile, CPU work on the main thread); blocks its main thread when told to (as a long
// tile's CPU work: never while its own tile request is in flight).
import { createTileWorker, type TileAnswer, type TileWorkerConfig } from './pool-tile-worker.js';

/** What the parent passes in `POOL_SCENARIO_CHILD` (JSON). */
export type PoolChildConfig = TileWorkerConfig;

/** Parent → child. */
export type PoolCommand =
  | { readonly cmd: 'tile'; readonly id: number; readonly url: string; readonly cpu: number }
  | { readonly cmd: 'block'; readonly id: number; readonly ms: number }
  | { readonly cmd: 'close'; readonly id: number };

/** Child → parent: answers carry the command's id; events do not. */
export type PoolMessage =
  | { readonly event: 'ready' }
  | { readonly event: 'leader'; readonly leading: boolean }
  | ({ readonly id: number } & TileAnswer)
  | { readonly id: number; readonly done: true };

export function runPoolChild(): void {
  const config = JSON.parse(process.env.POOL_SCENARIO_CHILD ?? '{}') as PoolChildConfig;
  const send = (message: PoolMessage): void => {
    if (process.connected) process.send!(message);
  };
  const worker = createTileWorker(config);
  worker.session.on('leader', (leading) => send({ event: 'leader', leading }));

  process.on('message', (command: PoolCommand) => {
    void (async () => {
      if (command.cmd === 'block') {
        await worker.block(command.ms);
        return send({ id: command.id, done: true });
      }
      if (command.cmd === 'close') {
        await worker.session.close();
        send({ id: command.id, done: true });
        return process.disconnect();
      }
      send({ id: command.id, ...(await worker.tile(command.url, command.cpu)) });
    })();
  });
  send({ event: 'ready' });
}
