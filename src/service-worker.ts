/**
 * `shared-session/service-worker`: a service worker that adds the session's token to the requests an app names
 * (`match`), with the 401 rule, so that `<img>`, tiles and plain `fetch` calls of every page are authorised.
 *
 * @packageDocumentation
 */
export {
  handleAuthFetch,
  installAuthFetch,
  type AuthFetchEvent,
  type AuthFetchOptions,
  type FetchEventTarget,
} from './http/service-worker.js';
export type { UrlMatch } from './http/url-match.js';
