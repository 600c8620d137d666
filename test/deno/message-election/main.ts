/**
 * `deno run main.ts <scenario> <config JSON>`: a Deno process (main module + workers) where Web Locks are
 * unavailable, so the package's message election runs (src/sharing/browser/lock-election.ts). Prints one
 * `RESULT <json>` line. Scenarios:
 * - `election`: 20 concurrent calls in the main module, then 2 workers;
 * - `takeover`: a worker leads and fetches, the main module follows, the worker is terminated without a word;
 * - `exit`: one call, `close()`, and the script ends by itself (no `Deno.exit`).
 */
// No Web Locks (an older Deno, or an embedder without them): hidden before the package is loaded.
Object.defineProperty(Object.getPrototypeOf(navigator), 'locks', { get: () => undefined, configurable: true });
const { clientCredentials, createSession } = await import('shared-session');

interface WorkerAnswer {
  token: string;
  ms: number;
  leader: boolean;
}

const deno = (globalThis as unknown as { Deno: { args: string[]; exit(code: number): never } }).Deno;
const scenario = deno.args[0]!;
const config = JSON.parse(deno.args[1]!) as { tokenUrl: string; clientId: string; clientSecret: string };

function report(result: unknown): void {
  // eslint-disable-next-line no-console -- the one line the test reads
  console.log(`RESULT ${JSON.stringify(result)}`);
}

function startWorker(): { worker: Worker; answer: Promise<WorkerAnswer> } {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const answer = new Promise<WorkerAnswer>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<WorkerAnswer>) => resolve(event.data);
    worker.onerror = (event) => reject(new Error(event.message));
  });
  worker.postMessage(config);
  return { worker, answer };
}

const errors: string[] = [];
function open() {
  const session = createSession({ provider: clientCredentials(config) });
  session.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
  return session;
}

if (scenario === 'election') {
  const session = open();
  const started = Date.now();
  const tokens = await Promise.all(Array.from({ length: 20 }, () => session.getToken()));
  const mainMs = Date.now() - started;
  const workers = await Promise.all(
    [0, 1].map(async () => {
      const { worker, answer } = startWorker();
      const result = await answer;
      worker.terminate();
      return result;
    }),
  );
  report({ mainMs, mainToken: tokens[0]!.accessToken, mainLeader: session.isLeader, workers, errors });
  await session.close();
  deno.exit(0);
} else if (scenario === 'takeover') {
  // The worker alone: it leads and fetches. Then the main module joins and follows.
  const { worker, answer } = startWorker();
  const leaderWorker = await answer;
  const session = open();
  const followed = await session.getToken();
  const leading = new Promise<number>((resolve) => session.on('leader', (isLeader) => isLeader && resolve(Date.now())));
  const leaderBefore = session.isLeader;
  const terminated = Date.now();
  worker.terminate(); // no `death` message: the main module must notice on its own
  const takeoverMs = (await leading) - terminated;
  const after = await session.getToken();
  report({ leaderWorker, leaderBefore, followed: followed.accessToken, after: after.accessToken, takeoverMs, errors });
  await session.close();
  deno.exit(0);
} else if (scenario === 'exit') {
  const session = open();
  const token = await session.getToken();
  await session.close();
  report({ token: token.accessToken, leader: session.isLeader, closedAt: Date.now(), errors });
  // No Deno.exit: the process ends once nothing (no lock, no timer, no channel) is left.
}
