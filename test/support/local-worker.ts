// One process of the local-sharing tests: forked with `--import tsx`, configured by the environment, driven over
// IPC. It reports when its provider starts a token request, so that a test can kill the leader in the middle of one.
import { Socket } from 'node:net';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { clientCredentials, createSession, refreshTokenGrant, type TokenProvider } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { processUsage, type SoakLoopResult, startSoakLoop } from '../soak/process-loop.js';

/** What the test passes in `LOCAL_WORKER` (JSON). */
export interface LocalConfig {
  readonly tokenUrl: string;
  readonly clientId: string;
  /** '' with `refreshToken`: a public client, which sends no secret. */
  readonly clientSecret: string;
  /** Use `refreshTokenGrant` with this refresh token instead of client credentials. */
  readonly refreshToken?: string;
  readonly dir?: string;
  readonly refreshBeforeExpiry?: number;
  readonly timeout?: number;
  /** The refresh-token provider's attempt timeout (`refreshTokenGrant` `timeout`) and `lateAnswerWindow`, when set. */
  readonly attemptTimeout?: number;
  readonly lateAnswerWindow?: number;
  /** The API the soak loop calls with each token (the token server's `/api/…`). */
  readonly apiUrl?: string;
}

/** Requests the test sends; every one is answered with `{ id, ...result }`. */
export type LocalRequest =
  | { id: number; cmd: 'getMany'; count: number }
  | { id: number; cmd: 'loop'; duration: number; every: number }
  | { id: number; cmd: 'threads'; threads: number; count: number }
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'clear' }
  | { id: number; cmd: 'close' }
  // The chaos soak (test/soak/): a call loop that runs until `soak-stop`, and the process's memory and handles.
  | { id: number; cmd: 'soak-start'; every: number }
  | { id: number; cmd: 'soak-stop' }
  | { id: number; cmd: 'usage' }
  // With LOCAL_TAP set: everything this process wrote to Unix sockets (the transport) and to stdout/stderr.
  | { id: number; cmd: 'tap' };

/** What a process tells on its own. */
export type LocalEvent =
  | { event: 'ready' }
  | { event: 'fetching' }
  /** busy-local-worker.ts: its event loop is blocked from now on (`getAfterBlock`). */
  | { event: 'blocking' }
  | { event: 'token'; accessToken: string; source: string }
  | { event: 'leader'; leading: boolean }
  | { event: 'cleared'; origin: string }
  | { event: 'error'; code: string; message: string; inspected: string }
  | { event: 'soak'; kind: 'failed' | 'expired'; at: number; detail: string };

export interface Many {
  tokens: string[];
  errors: string[];
  /** util.inspect of each error (message, code, cause chain, details), for the secrets scan. */
  inspected?: string[];
}

/** The provider of a config, telling `fetching` through `tell` whenever it starts a token request. */
export function providerOf(config: LocalConfig, tell: (message: object) => void): TokenProvider {
  const { tokenUrl, clientId, clientSecret, refreshToken } = config;
  const base =
    refreshToken === undefined
      ? clientCredentials({ tokenUrl, clientId, clientSecret })
      : refreshTokenGrant({
          tokenUrl,
          clientId,
          // '' for a public client (the OpenID provider's), which sends none.
          ...(clientSecret === '' ? {} : { clientSecret }),
          refreshToken,
          ...(config.attemptTimeout === undefined ? {} : { timeout: config.attemptTimeout }),
          ...(config.lateAnswerWindow === undefined ? {} : { lateAnswerWindow: config.lateAnswerWindow }),
        });
  return {
    ...base,
    fetchToken(context) {
      tell({ event: 'fetching' });
      return base.fetchToken(context);
    },
  };
}

export function sessionOf(config: LocalConfig, tell: (message: object) => void) {
  const session = createSession({
    provider: providerOf(config, tell),
    sharing: localSharing({ dir: config.dir, timeout: config.timeout }),
    ...(config.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: config.refreshBeforeExpiry }),
  });
  session.on('token', (token, source) => tell({ event: 'token', accessToken: token.accessToken, source }));
  session.on('leader', (leading) => tell({ event: 'leader', leading }));
  session.on('cleared', (origin) => tell({ event: 'cleared', origin }));
  session.on('error', (error) => tell({ event: 'error', code: error.code, message: error.message, inspected: inspect(error, { depth: 8 }) }));
  return session;
}

const codeOf = (error: unknown): string => (error as { code?: string }).code ?? String(error);

export async function getMany(session: { getToken(): Promise<{ accessToken: string }> }, count: number): Promise<Many> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => session.getToken()));
  return {
    tokens: settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value.accessToken] : [])),
    errors: settled.flatMap((result) => (result.status === 'rejected' ? [codeOf(result.reason)] : [])),
    inspected: settled.flatMap((result) => (result.status === 'rejected' ? [inspect(result.reason, { depth: 8 })] : [])),
  };
}

/** The secrets scan's tap: what this process writes to Unix domain sockets (the transport) and to its output. */
function tapWrites(): { socket: string[]; output: string[] } {
  const tapped = { socket: [] as string[], output: [] as string[] };
  const text = (chunk: unknown): string => (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
  const write = Socket.prototype.write as (this: Socket, chunk: unknown, ...rest: unknown[]) => boolean;
  Socket.prototype.write = function tappedWrite(this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
    // TCP sockets (the token endpoint, the API) have a remote address; Unix sockets and pipes have none.
    if (this.remoteAddress === undefined && this !== (process.stdout as unknown) && this !== (process.stderr as unknown)) tapped.socket.push(text(chunk));
    return write.call(this, chunk, ...rest);
  } as typeof Socket.prototype.write;
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      tapped.output.push(text(chunk));
      return original(chunk, ...rest);
    }) as typeof stream.write;
  }
  return tapped;
}

if (process.env.LOCAL_WORKER !== undefined && process.send !== undefined) {
  const tapped = process.env.LOCAL_TAP === undefined ? undefined : tapWrites();
  const config = JSON.parse(process.env.LOCAL_WORKER) as LocalConfig;
  const send = (message: object): void => {
    if (process.connected) process.send?.(message);
  };
  const session = sessionOf(config, send);
  let stopSoak: (() => Promise<SoakLoopResult>) | undefined;

  process.on('message', (request: LocalRequest) => {
    void handle(request).then((result) => send({ id: request.id, ...result }));
  });

  async function handle(request: LocalRequest): Promise<object> {
    switch (request.cmd) {
      case 'getMany':
        return getMany(session, request.count);
      case 'loop': {
        const tokens = new Set<string>();
        const errors: string[] = [];
        let calls = 0;
        let expired = 0;
        const end = Date.now() + request.duration;
        while (Date.now() < end) {
          calls++;
          await session.getToken().then(
            (token) => {
              tokens.add(token.accessToken);
              if (token.expiresAt <= Date.now()) expired++;
            },
            (error: unknown) => errors.push(codeOf(error)),
          );
          await new Promise((resolve) => setTimeout(resolve, request.every));
        }
        return { calls, tokens: [...tokens], errors, expired };
      }
      case 'threads': {
        const url = new URL('./local-thread.mjs', import.meta.url);
        const results = await Promise.all(
          Array.from(
            { length: request.threads },
            () =>
              new Promise<Many>((resolve, reject) => {
                const worker = new Worker(url, { workerData: { config, count: request.count } });
                worker.once('message', (message: Many) => resolve(message));
                worker.once('error', reject);
              }),
          ),
        );
        return { tokens: results.flatMap((result) => result.tokens), errors: results.flatMap((result) => result.errors) };
      }
      case 'status':
        return { leading: session.isLeader };
      case 'soak-start':
        stopSoak = startSoakLoop(session, { apiUrl: config.apiUrl ?? '', every: request.every, now: Date.now, tell: send });
        return {};
      case 'soak-stop':
        return (await stopSoak?.()) ?? { calls: 0, successes: [] };
      case 'usage':
        return processUsage();
      case 'tap':
        return tapped ?? { socket: [], output: [] };
      case 'clear':
        await session.clear();
        return {};
      case 'close':
        await session.close();
        setTimeout(() => process.exit(0), 10);
        return {};
    }
  }

  send({ event: 'ready' });
}
