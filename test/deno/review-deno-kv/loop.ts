/**
 * `deno run --unstable-kv loop.ts <config JSON>`: one session on the shared KV file (optionally with a shifted clock)
 * calling getToken every `every` ms for `duration` ms. Prints `READY`, then one `RESULT <json>` line: every call's
 * outcome with its time, so a test can see how long callers went without a token.
 */
import { clientCredentials, createSession, refreshTokenGrant } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';

interface LoopConfig {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  kvPath: string;
  refreshToken?: string;
  leaseTime?: number;
  pollInterval?: number;
  timeout?: number;
  refreshBeforeExpiry?: number;
  /** ms added to this process's clock (skew between isolates). */
  clockOffset?: number;
  duration: number;
  every: number;
  /** Concurrent calls per tick. Default 1. */
  concurrency?: number;
  clearAt?: number;
}

const config = JSON.parse(Deno.args[0]!) as LoopConfig;
const kv = await Deno.openKv(config.kvPath);
const { tokenUrl, clientId, clientSecret, refreshToken } = config;
const offset = config.clockOffset ?? 0;
const session = createSession({
  provider: refreshToken === undefined
    ? clientCredentials({ tokenUrl, clientId, clientSecret })
    : refreshTokenGrant({ tokenUrl, clientId, clientSecret, refreshToken }),
  sharing: denoKvSharing({
    kv,
    prefix: ['review'],
    ...(config.leaseTime === undefined ? {} : { leaseTime: config.leaseTime }),
    ...(config.pollInterval === undefined ? {} : { pollInterval: config.pollInterval }),
    ...(config.timeout === undefined ? {} : { timeout: config.timeout }),
  }),
  clock: { now: () => Date.now() + offset },
  ...(config.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: config.refreshBeforeExpiry }),
});
const errors: string[] = [];
session.on('error', (error) => errors.push(error.code));
const calls: { at: number; took: number; token?: string; code?: string }[] = [];
const start = Date.now();
console.log('READY');
let cleared = false;
while (Date.now() - start < config.duration) {
  if (config.clearAt !== undefined && !cleared && Date.now() - start >= config.clearAt) {
    cleared = true;
    await session.clear().catch((error) => calls.push({ at: Date.now(), took: 0, code: `clear:${(error as { code?: string }).code}` }));
  }
  await Promise.all(Array.from({ length: config.concurrency ?? 1 }, async () => {
    const at = Date.now();
    try {
      const token = await session.getToken();
      calls.push({ at, took: Date.now() - at, token: token.accessToken });
    } catch (error) {
      calls.push({ at, took: Date.now() - at, code: (error as { code?: string }).code ?? String(error) });
    }
  }));
  await new Promise((resolve) => setTimeout(resolve, config.every));
}
console.log(`RESULT ${JSON.stringify({ calls, errors })}`);
await session.close();
kv.close();
