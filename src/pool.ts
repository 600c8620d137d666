/**
 * `shared-session/pool`: many sessions in one server process (one per user or tenant), bounded in number and idle
 * time, with keys hashed so that one user's input never lands on another user's session.
 *
 * @packageDocumentation
 */
export {
  createSessionPool,
  DEFAULT_POOL_IDLE_TTL,
  DEFAULT_POOL_MAX,
  type SessionPool,
  type SessionPoolOptions,
  type SessionPoolStats,
} from './server/pool.js';
