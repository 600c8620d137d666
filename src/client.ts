/**
 * `shared-session/client`: call APIs with the session's token. `createClient` is a ky instance that sets
 * `Authorization` before every attempt and applies the 401 rule (one refresh for everyone, one retry, then
 * `token_rejected`); `fetchWithToken` is the same rule for a single `fetch`.
 *
 * @packageDocumentation
 */
export { createClient, type ClientOptions } from './http/create-client.js';
export { fetchWithToken, type FetchWithTokenOptions } from './http/fetch-with-token.js';
export type { UrlMatch } from './http/url-match.js';
