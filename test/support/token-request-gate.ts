import type { TokenServer } from './token-server.js';

/**
 * A gate on the token endpoint: while it is closed, token requests wait at the server before it handles them, until
 * `release()`. A test keeps a request in flight until an event of its own (a tab has left, a page has stopped) rather
 * than for a latency, which a slow machine outruns.
 */
export interface TokenRequestGate {
  /** Token requests that arrived while the gate was closed, since the last `close()`. */
  readonly arrived: number;
  /**
   * Holds the next token requests (and counts them) until `release()`; the first `passing` of them go through (a test
   * that closes the gate before its tabs sign in holds their first refresh, however slowly the machine opened them).
   */
  close(passing?: number): void;
  /** Lets the held requests go, and the next ones through. Does nothing when the gate is open. */
  release(): void;
}

/** Installs the gate on `server`'s routes (open at first): call it once per server, before the test's requests. */
export function gateTokenRequests(server: Pick<TokenServer, 'route'>): TokenRequestGate {
  let gate: Promise<void> | undefined;
  let open = (): void => undefined;
  let arrived = 0;
  let passing = 0;
  server.route(async (_req, _res, url) => {
    if (url.pathname === '/token' && gate !== undefined) {
      if (passing > 0) {
        passing--;
        return false;
      }
      arrived++;
      await gate;
    }
    return false;
  });
  return {
    get arrived() {
      return arrived;
    },
    close(pass = 0) {
      arrived = 0;
      passing = pass;
      gate = new Promise((resolve) => {
        open = () => {
          gate = undefined;
          resolve();
        };
      });
    },
    release() {
      open();
    },
  };
}
