// One server process of a fleet, for the Redis tests: forked with `--import tsx`, configured by the environment,
// driven over IPC. It reports when its provider starts a token request, so a test can kill the lock holder.
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { clientCredentials, createSession, type TokenProvider } from '../../src/index.js';
import { redisSharing, type RedisSharingOptions } from '../../src/redis.js';
import { processUsage, type SoakLoopResult, startSoakLoop } from '../soak/process-loop.js';

/** What the test passes in `REDIS_WORKER` (JSON). */
export interface WorkerConfig {
  readonly redisUrl: string;
  readonly library: 'redis' | 'ioredis';
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshBeforeExpiry?: number;
  /** This process's clock is this many ms ahead of the machine's (negative: behind). */
  readonly clockOffset?: number;
  /** Every `loop` call also calls this API with the token it got (the token server's `/api/…`). */
  readonly apiUrl?: string;
  readonly sharing?: Omit<RedisSharingOptions, 'client' | 'subscriber'>;
}

/** Requests the test sends; every one is answered with `{ id, ...result }`. */
export type WorkerRequest =
  | { id: number; cmd: 'getMany'; count: number }
  | { id: number; cmd: 'loop'; duration: number; every: number }
  | { id: number; cmd: 'clear' }
  | { id: number; cmd: 'close' }
  // The chaos soak (test/soak/): a call loop that runs until `soak-stop`, and the process's memory and handles.
  | { id: number; cmd: 'soak-start'; every: number }
  | { id: number; cmd: 'soak-stop' }
  | { id: number; cmd: 'usage' };

/** What a worker tells on its own. */
export type WorkerEvent =
  | { event: 'ready' }
  | { event: 'fetching' }
  | { event: 'token'; accessToken: string; source: string }
  | { event: 'cleared'; origin: string }
  | { event: 'error'; code: string; message: string; inspected: string }
  | { event: 'soak'; kind: 'failed' | 'expired'; at: number; detail: string };

const config = JSON.parse(process.env.REDIS_WORKER ?? '{}') as WorkerConfig;
const send = (message: object): void => {
  process.send?.(message);
};

const client =
  config.library === 'ioredis'
    ? new Redis(config.redisUrl, { maxRetriesPerRequest: 1 })
    : await createClient({ url: config.redisUrl }).on('error', () => undefined).connect();
if (client instanceof Redis) client.on('error', () => undefined);

const base = clientCredentials({ tokenUrl: config.tokenUrl, clientId: config.clientId, clientSecret: config.clientSecret });
const provider: TokenProvider = {
  ...base,
  fetchToken(context) {
    send({ event: 'fetching' });
    return base.fetchToken(context);
  },
};
const offset = config.clockOffset ?? 0;
const clock = { now: () => Date.now() + offset };
const session = createSession({
  provider,
  clock,
  sharing: redisSharing({ client, ...config.sharing }),
  ...(config.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: config.refreshBeforeExpiry }),
});
session.on('token', (token, source) => send({ event: 'token', accessToken: token.accessToken, source }));
session.on('cleared', (origin) => send({ event: 'cleared', origin }));
session.on('error', (error) => send({ event: 'error', code: error.code, message: error.message, inspected: inspect(error, { depth: 8 }) }));

const codeOf = (error: unknown): string => (error as { code?: string }).code ?? String(error);

let stopSoak: (() => Promise<SoakLoopResult>) | undefined;

process.on('message', (request: WorkerRequest) => {
  void handle(request).then((result) => send({ id: request.id, ...result }));
});

async function handle(request: WorkerRequest): Promise<object> {
  switch (request.cmd) {
    case 'getMany': {
      const settled = await Promise.allSettled(Array.from({ length: request.count }, () => session.getToken()));
      return {
        tokens: settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value.accessToken] : [])),
        errors: settled.flatMap((result) => (result.status === 'rejected' ? [codeOf(result.reason)] : [])),
        // For the secrets scan: message, code, cause chain and details of each error.
        inspected: settled.flatMap((result) => (result.status === 'rejected' ? [inspect(result.reason, { depth: 8 })] : [])),
      };
    }
    case 'loop': {
      const tokens = new Set<string>();
      const errors: string[] = [];
      let calls = 0;
      /** Tokens this process's own clock called expired when getToken returned them. */
      let expired = 0;
      /** API answers other than 200 to the token just returned. */
      let refused = 0;
      const end = Date.now() + request.duration;
      while (Date.now() < end) {
        calls++;
        const token = await session.getToken().catch((error: unknown) => {
          errors.push(codeOf(error));
          return undefined;
        });
        if (token !== undefined) {
          tokens.add(token.accessToken);
          if (token.expiresAt <= clock.now()) expired++;
          if (config.apiUrl !== undefined) {
            const response = await fetch(config.apiUrl, { headers: { authorization: `Bearer ${token.accessToken}` } });
            await response.arrayBuffer();
            if (response.status !== 200) refused++;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, request.every));
      }
      return { calls, tokens: [...tokens], errors, expired, refused };
    }
    case 'soak-start':
      stopSoak = startSoakLoop(session, { apiUrl: config.apiUrl ?? '', every: request.every, now: clock.now, tell: send });
      return {};
    case 'soak-stop':
      return (await stopSoak?.()) ?? { calls: 0, successes: [] };
    case 'usage':
      return processUsage();
    case 'clear':
      await session.clear();
      return {};
    case 'close':
      await session.close();
      if (client instanceof Redis) client.disconnect();
      else client.destroy();
      setTimeout(() => process.exit(0), 10);
      return {};
  }
}

send({ event: 'ready' });
