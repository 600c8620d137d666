/**
 * `deno run --unstable-kv process.ts <scenario> <config JSON> [<start at, epoch ms>]`: one Deno process on the shared
 * KV file, with its main module and `config.workers` workers each holding a session. Prints one `RESULT <json>` line.
 */
import { KvContext } from './context.ts';
import { type Command, type KvAnswer, type KvConfig, report, sleep } from './protocol.ts';

class KvWorker {
  readonly #worker = new Worker(new URL('./worker.ts', import.meta.url).href, { type: 'module' });
  #queue: Promise<unknown> = Promise.resolve();

  static async start(config: KvConfig): Promise<KvWorker> {
    const worker = new KvWorker();
    await worker.run({ type: 'start', config });
    return worker;
  }

  run(command: Command): Promise<KvAnswer> {
    const sent = this.#queue.then(
      () =>
        new Promise<KvAnswer>((resolve, reject) => {
          this.#worker.onmessage = ({ data }: MessageEvent<KvAnswer>) => resolve(data);
          this.#worker.onerror = (event) => reject(new Error(event.message));
          this.#worker.postMessage(command);
        }),
    );
    this.#queue = sent.catch(() => undefined);
    return sent;
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

const [scenario, json, together] = Deno.args as [string, string, string | undefined];
const config = JSON.parse(json) as KvConfig;
const main = await KvContext.open(config);
const workers = await Promise.all(Array.from({ length: config.workers }, () => KvWorker.start(config)));
const all = (command: Command): Promise<KvAnswer[]> => Promise.all([main.run(command), ...workers.map((worker) => worker.run(command))]);
// Processes load one by one, slowly on a busy machine: they begin together, when the test has seen all of them loaded
// and writes a line to each one's stdin.
if (together === 'together') {
  console.log('LOADED');
  await Deno.stdin.readable.getReader().read();
}
console.log('READY');

switch (scenario) {
  case 'burst':
    report({ contexts: await all({ type: 'burst', count: 50 }) });
    break;
  case 'loop':
    await all({ type: 'loop', until: Date.now() + 12_000, every: 100 });
    // Every session refreshes ahead of expiry while it is open, called or not: the answers are taken at the close,
    // after each context waited for its refresh in flight, so that they list every token it fetched.
    report({ contexts: await all({ type: 'close', settle: true }) });
    break;
  // Everyone has the token; the main module of the process started with `clear` signs out 2 s later.
  case 'clear':
  case 'follow': {
    const before = await all({ type: 'burst', count: 5 });
    await sleep(2_000);
    const clearedAt = Date.now();
    if (scenario === 'clear') await main.run({ type: 'clear' });
    const cleared = await all({ type: 'cleared', timeout: 8_000 });
    // Everyone is signed out: the next calls share one new token.
    await sleep(Math.max(0, clearedAt + 4_000 - Date.now()));
    const after = await all({ type: 'burst', count: 5 });
    report({ before, cleared, after, clearedAt });
    break;
  }
  // Everyone has the token (for a refresh-token grant: the chain has started), then the main module signs out.
  case 'sign-out': {
    const contexts = await all({ type: 'burst', count: 5 });
    await main.run({ type: 'clear' });
    report({ contexts });
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
if (scenario !== 'loop') await all({ type: 'close' });
for (const worker of workers) worker.terminate();
