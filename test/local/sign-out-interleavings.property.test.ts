import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session } from '../../src/index.js';
import { localSharing } from '../../src/node.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The sign-out bound of localSharing as a property, over random interleavings of getToken and clear() in three
// contexts of one machine (three transports in this process: as three processes, they share only the rendezvous
// directory). The interleavings include the one a stopped or busy leader makes for real: a sign-out and another
// context's getToken in the same task, before any socket is read — the `clear` message is not delivered yet, so only
// what the sign-out recorded on disk can tell. The rules:
// - once clear() was called anywhere, no context hands out a token handed out before it;
// - at most one token request per sign-out (and one for the start), however the calls interleave.

type Command =
  | { readonly kind: 'get'; readonly context: number }
  | { readonly kind: 'getAll' }
  | { readonly kind: 'clear'; readonly context: number; readonly thenGet: number | undefined };

const context = fc.integer({ min: 0, max: 2 });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), context }),
  fc.record({ kind: fc.constant('getAll' as const) }),
  fc.record({ kind: fc.constant('clear' as const), context, thenGet: fc.option(context, { nil: undefined }) }),
);

let tokens: TokenServer;
let dir: string;
let run = 0;

beforeAll(async () => {
  tokens = await startTokenServer();
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'sign-out-property-')), 'rendezvous');
});

afterAll(async () => {
  await tokens.close();
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

it('getToken and clear() in any order across contexts: nothing handed out before a sign-out is handed out after it', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
      const { id, secret } = tokens.addClient(`sign-out-property-${++run}`);
      const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret });
      const sessions: Session[] = [41_000, 42_000, 43_000].map((timeout) => createSession({ provider, sharing: localSharing({ dir, timeout }) }));
      const before = tokens.stats.issuedByClient[id] ?? 0;
      const handedOut = new Set<string>();
      let ended = new Set<string>();
      let clears = 0;
      const take = (accessToken: string): void => {
        expect(ended.has(accessToken), 'a token handed out before a sign-out, handed out after it').toBe(false);
        handedOut.add(accessToken);
      };
      try {
        for (const step of commands) {
          if (step.kind === 'get') take((await sessions[step.context]!.getToken()).accessToken);
          else if (step.kind === 'getAll') for (const token of await Promise.all(sessions.map((session) => session.getToken()))) take(token.accessToken);
          else {
            // Everything handed out so far is ended by this sign-out, wherever it was handed out.
            ended = new Set([...ended, ...handedOut]);
            clears++;
            const cleared = sessions[step.context]!.clear();
            // Another context's call in the same task: no socket has been read since the sign-out.
            const next = step.thenGet === undefined ? undefined : sessions[step.thenGet]!.getToken();
            await cleared;
            if (next !== undefined) take((await next).accessToken);
          }
        }
        expect((tokens.stats.issuedByClient[id] ?? 0) - before).toBeLessThanOrEqual(clears + 1);
      } finally {
        await Promise.all(sessions.map((session) => session.close()));
      }
    }),
    { numRuns: 40 },
  );
}, 120_000);
