import { expect, it } from 'vitest';
import { soakChromium } from './chromium.js';
import { soakLocal } from './local.js';
import { soakRedis } from './redis.js';
import { format, violations } from './report.js';

// `npm run test:reliability`: the chaos soak of `npm run soak` in short mode, as part of `npm test`. A fixed seed
// (SOAK_SEED to replay another), so that CI runs the same schedule every time; `npm run soak` draws a new one.
const seed = Number(process.env.SOAK_SEED ?? 16);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

it('Chromium: 10 tabs, a dedicated worker and the service worker through 35 s of chaos', async () => {
  const report = await soakChromium({ seed, duration: 35_000, log });
  log(format(report));
  expect(violations(report)).toEqual([]);
  expect(Object.values(report.faults).reduce((sum, count) => sum + count, 0)).toBeGreaterThan(5);
}, 150_000);

it('Redis fleet: 4 processes through 15 s of Redis and lock-holder kills and stops', async () => {
  const report = await soakRedis({ seed, duration: 15_000, log });
  log(format(report));
  expect(violations(report)).toEqual([]);
}, 90_000);

it('local sharing: 4 processes through 12 s of leader kills', async () => {
  const report = await soakLocal({ seed, duration: 12_000, log });
  log(format(report));
  expect(violations(report)).toEqual([]);
}, 90_000);
