import { createContext } from 'react';
import type { Session } from '../core/session.js';

/**
 * The session of the nearest `SessionProvider`: `undefined` while a session the provider creates does not exist yet
 * (before its first effect, and always in a server render); `null` without a provider.
 */
export const SessionContext = createContext<Session | undefined | null>(null);
