/**
 * How often (in `commandTimeout`s) a session reads the sign-out epoch on its own. A Pub/Sub connection can go silent
 * without closing (a NAT or a load balancer dropping an idle flow, a partition): neither client library notices, and
 * the sign-outs published on it never arrive. The check bounds how long a process may hand out a signed-out token:
 * about this many `commandTimeout`s, plus one for the read. It costs one GET per credential and process per period.
 */
export const LIVENESS_PERIOD_IN_COMMAND_TIMEOUTS = 2;

/**
 * Runs `check` every `period` ms until the returned function is called: one check at a time (a slow one is not
 * stacked), its failures ignored (Redis unavailable: the next one tries again). Never keeps a process alive.
 */
export function checkEvery(period: number, check: () => Promise<unknown>): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check()
      .catch(() => undefined)
      .finally(() => (running = false));
  }, period);
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}
