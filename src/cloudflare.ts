/**
 * Cloudflare Workers: one token per credential for every isolate, coordinated by a Durable Object.
 *
 * @example
 * export { TokenCoordinator } from 'shared-session/cloudflare';
 * const session = createSession({ provider, sharing: durableObjectSharing(env.TOKEN_COORDINATOR) });
 * @module
 */
export { TokenCoordinator } from './cloudflare/coordinator.js';
export { durableObjectSharing, type DurableObjectSharingOptions } from './cloudflare/sharing.js';
export type { CoordinatorNamespace, CoordinatorState, CoordinatorStorage, CoordinatorStub } from './cloudflare/types.js';
