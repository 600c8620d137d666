// One server process of a fleet, for the Redis tests: forked with `--import tsx`, configured by the environment,
// driven over IPC. It reports when its provider starts a token request, so a test can kill the lock holder.
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { clientCredentials, createSession, type TokenProvider } from '../../src/index.js';
import { redisSharing, type RedisSharingOptions } from '../../src/redis.js';

/** What the test passes in `REDIS_WORKER` (JSON). */
export interface WorkerConfig {
  readonly redisUrl: string;
  readonly library: 'redis' | 'ioredis';
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshBeforeExpiry?: number;
  readonly sharing?: Omit<RedisSharingOptions, 'client' | 'subscriber'>;
}

/** Requests the test sends; every one is answered with `{ id, ...result }`. */
export type WorkerRequest =
  | { id: number; cmd: 'getMany'; count: number }
  | { id: number; cmd: 'loop'; duration: number; every: number }
  | { id: number; cmd: 'clear' }
  | { id: number; cmd: 'close' };

/** What a worker tells on its own. */
export type WorkerEvent =
  | { event: 'ready' }
  | { event: 'fetching' }
  | { event: 'token'; accessToken: string; source: string }
  | { event: 'cleared'; origin: string }
  | { event: 'error'; code: string };

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
const session = createSession({
  provider,
  sharing: redisSharing({ client, ...config.sharing }),
  ...(config.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: config.refreshBeforeExpiry }),
});
session.on('token', (token, source) => send({ event: 'token', accessToken: token.accessToken, source }));
session.on('cleared', (origin) => send({ event: 'cleared', origin }));
session.on('error', (error) => send({ event: 'error', code: error.code }));

const codeOf = (error: unknown): string => (error as { code?: string }).code ?? String(error);

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
      };
    }
    case 'loop': {
      const tokens = new Set<string>();
      const errors: string[] = [];
      let calls = 0;
      const end = Date.now() + request.duration;
      while (Date.now() < end) {
        calls++;
        await session.getToken().then(
          (token) => tokens.add(token.accessToken),
          (error: unknown) => errors.push(codeOf(error)),
        );
        await new Promise((resolve) => setTimeout(resolve, request.every));
      }
      return { calls, tokens: [...tokens], errors };
    }
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
