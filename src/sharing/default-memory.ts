import { memorySharing } from './memory.js';
import type { Sharing } from './sharing.js';

let shared: Sharing | undefined;

/**
 * `#default-sharing` where the runtime is known from the bundler's or loader's conditions to be Node (or Bun) or workerd
 * (package.json `imports`): memory, one per JavaScript context, the transport `default.ts` chooses there at run time
 * too (neither has IndexedDB, and Node is never taken for a browser). Without this module a Worker or a server would
 * carry browser sharing, broadcast-channel and idb-keyval for a branch that never runs.
 */
export function defaultSharing(): Sharing {
  return (shared ??= memorySharing());
}
