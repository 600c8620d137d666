/**
 * Cloudflare Workers: one token per credential for every isolate, coordinated by a Durable Object.
 *
 * @example
 * export { TokenCoordinator } from 'shared-session/cloudflare';
 * const session = createSession({ provider, sharing: durableObjectSharing(env.TOKEN_COORDINATOR) });
 * @packageDocumentation
 */
export { TokenCoordinator } from './sharing/cloudflare/coordinator.js';
export { durableObjectSharing, type DurableObjectSharingOptions } from './sharing/cloudflare/sharing.js';
export type { CoordinatorNamespace, CoordinatorState, CoordinatorStorage, CoordinatorStub } from './sharing/cloudflare/types.js';
