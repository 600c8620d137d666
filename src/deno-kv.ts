/**
 * Deno Deploy (and Deno processes sharing one KV file): one token per credential for every isolate and region,
 * coordinated in Deno KV (a lease checked on versionstamps, the token stored with `expireIn`, a sign-out epoch read
 * with every token, `kv.watch` and a bounded poll to tell the others). Secrets never reach KV.
 *
 * @example
 * // kv: an open Deno.Kv, from `await Deno.openKv()`
 * const session = createSession({ provider, sharing: denoKvSharing({ kv, prefix: ['my-app'] }) });
 * @packageDocumentation
 */
export { denoKvSharing, type DenoKvSharingOptions } from './sharing/deno-kv/sharing.js';
export type { DenoKv, KvAtomicOperation, KvEntryMaybe, KvKey } from './sharing/deno-kv/kv.js';
