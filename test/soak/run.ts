// `npm run soak [-- --minutes N --seed S --only chromium,redis,local,bfcache]`: the chaos soak. Prints what was
// injected and what held per transport, and exits non-zero when an invariant broke. Default: about 2.5 minutes in all.
// `bfcache` (not in the default set) runs the back/forward-cache model (test/browser/bfcache-model.test.ts) for
// `--minutes`, as many runs as fit, from `--seed`.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { soakChromium } from './chromium.js';
import { soakLocal } from './local.js';
import { soakRedis } from './redis.js';
import { format, type SoakReport, violations } from './report.js';
import { freshSeed } from './schedule.js';

const { values } = parseArgs({ options: { minutes: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' } } });
const minutes = values.minutes === undefined ? 2 : Number(values.minutes);
const seed = values.seed === undefined ? freshSeed() : Number(values.seed);
const only = new Set((values.only ?? 'chromium,redis,local').split(','));
if (!(minutes > 0) || !Number.isInteger(seed)) throw new Error('--minutes must be a positive number and --seed an integer');
const log = (line: string): void => void process.stdout.write(`${line}\n`);
log(`soak: seed ${seed} (replay with --seed ${seed}), ${minutes} min of chaos`);

// The chaos time is split 60 / 20 / 20 between Chromium, Redis and local sharing.
const total = minutes * 60_000;
// Bounded whatever happens: set-up, warm-up and teardown take well under a minute per transport.
const limit = total * 1.5 + 180_000;
setTimeout(() => {
  log(`soak: still running after ${Math.round(limit / 1000)} s: stopped (seed ${seed})`);
  process.exit(2);
}, limit).unref();
const reports: SoakReport[] = [];
if (only.has('chromium')) reports.push(await soakChromium({ seed, duration: total * 0.6, log }));
if (only.has('redis')) reports.push(await soakRedis({ seed, duration: total * 0.2, log }));
if (only.has('local')) reports.push(await soakLocal({ seed, duration: total * 0.2, log }));
for (const report of reports) log(format(report));
let modelBroken = 0;
if (only.has('bfcache')) {
  const env = { ...process.env, BFCACHE_MODEL_RUNS: '1000', BFCACHE_MODEL_SEED: String(seed), BFCACHE_MODEL_MINUTES: String(minutes) };
  const model = spawnSync('npx', ['vitest', 'run', '--project', 'browser', 'test/browser/bfcache-model.test.ts'], { env, stdio: 'inherit' });
  modelBroken = model.status === 0 ? 0 : 1;
  log(`soak: back/forward-cache model ${modelBroken === 0 ? 'held' : 'broke'} (seed ${seed})`);
}
const broken = [...reports.flatMap(violations), ...(modelBroken === 0 ? [] : ['bfcache model'])];
log(broken.length === 0 ? 'soak: every invariant held' : `soak: ${broken.length} invariant(s) broken`);
process.exitCode = broken.length === 0 ? 0 : 1;
