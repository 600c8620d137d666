import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTokenServer, type TokenServer } from './token-server.js';

/** Anything a test opens and must close: a session, a preset, a pool. */
export interface Closable {
  close(): Promise<void>;
}

/** The token server of a test file, with one registered client, and what each test opened. */
export interface TokenServerSuite {
  readonly server: TokenServer;
  readonly client: { readonly id: string; readonly secret: string };
  /** Closes `item` after the current test (before the server is reset). */
  track<T extends Closable>(item: T): T;
}

/**
 * The prelude of the Node tests: a real token server on 127.0.0.1 for the file, a client registered on it, and
 * after each test every tracked session closed and the server reset (queued failures, lifetime, stats).
 */
export function useTokenServer(clientId = 'app', clientSecret?: string): TokenServerSuite {
  let server: TokenServer | undefined;
  let client: { id: string; secret: string } | undefined;
  const open: Closable[] = [];
  beforeAll(async () => {
    server = await startTokenServer();
    client = server.addClient(clientId, clientSecret);
  });
  afterAll(() => server?.close());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((item) => item.close()));
    server?.reset();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useTokenServer: used before beforeAll ran');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get client() {
      return started(client);
    },
    track(item) {
      open.push(item);
      return item;
    },
  };
}
