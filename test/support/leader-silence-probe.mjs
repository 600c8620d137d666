// Loaded into every process of a test that cannot be instrumented otherwise (`NODE_OPTIONS=--import <this file>`, as
// test/local/example-process-pool.test.ts runs the example unchanged): appends a line to the file
// `LEADER_SILENCE_PROBE` for each time this process's event loop was held up for `LEADER_SILENCE_LIMIT` ms or more
// while it listened on a Unix socket (it led a credential: localSharing's leader listens, its clients do not). A
// leader held up that long is silent by localSharing's rule, and may be replaced at the cost of one more token
// request; a test counts these to know what the machine allowed in its run.
import { appendFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setInterval } from 'node:timers';

const file = process.env.LEADER_SILENCE_PROBE;
const limit = Number(process.env.LEADER_SILENCE_LIMIT);
const EVERY = 50;

if (file !== undefined && limit > 0) {
  let listening = 0;
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    const [first] = args;
    const onPath = typeof first === 'string' || (typeof first === 'object' && first !== null && typeof first.path === 'string');
    if (onPath) {
      this.once('listening', () => {
        listening++;
        this.once('close', () => listening--);
      });
    }
    return listen.apply(this, args);
  };
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    // The gap ends now; it counts if this process led when it began (it could not stop leading meanwhile).
    if (listening > 0 && now - last >= limit) appendFileSync(file, `${process.pid} ${Math.round(now - last)}\n`);
    last = now;
  }, EVERY).unref();
}
