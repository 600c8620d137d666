/**
 * broadcast-channel's message election alone, for `#leader-election` (package.json `imports`, outside Deno): election.ts
 * imports it on demand, and a bundler splits off only this function and what it needs (with `unload`), not the
 * package's channel class and its IndexedDB and localStorage transports.
 */
export { createLeaderElection } from 'broadcast-channel';
