/**
 * `shared-session`: one OAuth2 session per credential, shared by every tab, worker, isolate and server that needs it.
 * `createSession` with a provider (`clientCredentials`, `refreshTokenGrant`, `customProvider`, `staticToken`) and,
 * optionally, a transport (`browserSharing`, `memorySharing`; others in their own entries).
 *
 * @packageDocumentation
 */
export { createSession } from './session/create-session.js';
export type { Session } from './core/session.js';
export type { GetTokenOptions, SessionOptions } from './core/options.js';
export type { SessionEvents, TokenSource } from './core/session-core.js';
export type { Token, TokenSet } from './core/token.js';
export type { Clock } from './core/clock.js';
export { SessionError, isSessionError, type ErrorCode } from './core/errors.js';
export { clientCredentials, type ClientCredentialsOptions } from './providers/client-credentials.js';
export { refreshTokenGrant, type RefreshTokenGrantOptions } from './providers/refresh-token.js';
export { customProvider, type CustomProviderOptions } from './providers/custom.js';
export { staticToken, type StaticTokenOptions } from './providers/static-token.js';
export type { FetchTokenContext, TokenProvider } from './providers/provider.js';
export type { TokenRequestOptions } from './providers/token-request.js';
export type { DPoPKey, DPoPOptions, DPoPRequest, SessionDPoP } from './core/dpop.js';
export { memorySharing } from './sharing/memory.js';
export { browserSharing, type BrowserSharingOptions } from './sharing/browser/sharing.js';
export type { SharedLink, Sharing, SharingPeer } from './sharing/sharing.js';
export type { SessionSnapshot, SnapshotListener } from './core/store.js';
