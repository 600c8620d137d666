import { memorySharing } from './memory.js';
import type { Sharing } from './sharing.js';

let shared: Sharing | undefined;

/** The transport used when `createSession` gets no `sharing` option: one per JavaScript context. */
export function defaultSharing(): Sharing {
  return (shared ??= memorySharing());
}
