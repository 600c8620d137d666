/**
 * `shared-session/node`: one session per credential for every thread and process of one machine — `worker_threads`
 * (a piscina pool), `child_process.fork` children, `cluster` workers, processes started by a process manager —
 * over one Unix domain socket per credential, with failover when the leader exits or is killed. Node only (it
 * imports Node built-ins); the root entry never reaches it.
 *
 * @example
 * import { createSession } from 'shared-session';
 * import { localSharing } from 'shared-session/node';
 * const session = createSession({ provider, sharing: localSharing() }); // in every thread and process
 * @packageDocumentation
 */
export { localSharing, type LocalSharingOptions } from './sharing/local/sharing.js';
export { deviceSignIn } from './device/session.js';
export type { DevicePrompt, DeviceSession, DeviceSignInCallOptions, DeviceSignInOptions, DeviceTokenStore } from './device/options.js';
