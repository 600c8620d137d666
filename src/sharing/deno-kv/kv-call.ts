import { SessionError } from '../../core/errors.js';

/** Longest time (ms) one KV call may take, tries included, before KV counts as unavailable. */
const KV_CALL_TIMEOUT = 10_000;

/**
 * A KV call, tried again while it fails (the CLI's SQLite KV answers "database is locked" while another process
 * writes; an atomic operation can be committed again, and its checks make a second commit harmless), bounded in
 * time: a failure or a hang past `KV_CALL_TIMEOUT` becomes `sharing_unavailable`. `stopped`: no more tries.
 */
export function boundedKvCall<T>(attempt: () => Promise<T>, stopped: () => boolean): Promise<T> {
  const deadline = Date.now() + KV_CALL_TIMEOUT;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new SessionError('sharing_unavailable', 'Deno KV did not answer in time')), KV_CALL_TIMEOUT);
  });
  const tries = async (): Promise<T> => {
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      try {
        return await attempt();
      } catch (error) {
        if (stopped() || Date.now() + wait >= deadline) {
          throw new SessionError('sharing_unavailable', 'Deno KV could not be reached', { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random())));
      }
    }
  };
  return Promise.race([tries(), expired]).finally(() => clearTimeout(timer));
}
