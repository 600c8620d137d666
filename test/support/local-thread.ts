// A worker_thread of a local-sharing test process: its own JavaScript context, so its own session and connection.
import { parentPort, workerData } from 'node:worker_threads';
import { getMany, type LocalConfig, sessionOf } from './local-worker.js';

const { config, count } = workerData as { config: LocalConfig; count: number };
const session = sessionOf(config, () => undefined);
const result = await getMany(session, count);
await session.close();
parentPort?.postMessage(result);
