// The piscina task of the seed's scenario with threads (test/support/thread-pool-scenario.ts): each worker thread
// makes its session on its first task and keeps it as long as it lives (as docs/node-processes.md shows), then runs
// every tile task as pool-tile-worker.ts does. Besides the tasks, which piscina hands to whichever thread is free, a
// thread hears the runner on a BroadcastChannel: "block the leading thread's event loop" (piscina cannot aim a task at
// one thread) and "close your session"; it tells the runner when it leads.
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { createTileWorker, type TileAnswer, type TileWorker, type TileWorkerConfig } from './pool-tile-worker.js';

export interface ThreadTileTask {
  readonly config: TileWorkerConfig;
  /** The runner's BroadcastChannel for this run. */
  readonly channel: string;
  readonly url: string;
  readonly cpu: number;
}

export type ThreadTileAnswer = TileAnswer & { readonly threadId: number };

/** Runner → threads. */
export type ThreadCommand = { readonly cmd: 'block'; readonly threadId: number; readonly ms: number } | { readonly cmd: 'close' };

/** Threads → runner. */
export type ThreadEvent =
  | { readonly event: 'leader'; readonly threadId: number; readonly leading: boolean }
  | { readonly event: 'unblocked'; readonly threadId: number }
  | { readonly event: 'closed'; readonly threadId: number };

let worker: TileWorker | undefined;

function start(task: ThreadTileTask): TileWorker {
  const started = createTileWorker(task.config);
  const channel = new BroadcastChannel(task.channel);
  const tell = (event: ThreadEvent): void => channel.postMessage(event);
  started.session.on('leader', (leading) => tell({ event: 'leader', threadId, leading }));
  channel.onmessage = (message) => {
    const command = message.data as ThreadCommand;
    if (command.cmd === 'block' && command.threadId === threadId) {
      void started.block(command.ms).then(() => tell({ event: 'unblocked', threadId }));
    } else if (command.cmd === 'close') {
      void started.session.close().finally(() => {
        tell({ event: 'closed', threadId });
        channel.close();
      });
    }
  };
  // Piscina keeps the thread alive; the channel must not keep it alive after piscina lets it go (unref'd after
  // `onmessage` is set, which may ref it).
  channel.unref();
  return started;
}

export default async function threadTile(task: ThreadTileTask): Promise<ThreadTileAnswer> {
  worker ??= start(task);
  return { ...(await worker.tile(task.url, task.cpu)), threadId };
}
