import { describe, expect, it } from 'vitest';
import { fromSepalHeaders, sepalUser } from '../../src/earth-engine.js';
import { hashKey } from '../../src/core/digest.js';
import { memorySharing, type SessionError } from '../../src/index.js';
import { useSepalServers } from '../support/sepal-suite.js';

const suite = useSepalServers();

describe('SEPAL identity comes from the gateway’s sepal-user header only', () => {
  it('a client-sent `sepal_user` header must not override the gateway’s `sepal-user` (or: two spellings = ambiguous, refused)', async () => {
    // What Node's req.headers looks like when the client sent `sepal_user` and the gateway then added `sepal-user`:
    // Node keeps both names, in arrival order (a Node http server and undici do not drop underscore headers).
    const mallory = suite.sepal.login('mallory');
    const forged = JSON.parse(mallory.headers['sepal-user']!) as { username: string; googleTokens: Record<string, unknown> };
    forged.username = 'alice';
    forged.googleTokens.projectId = 'ee-alice';
    const headers = { sepal_user: JSON.stringify(forged), ...mallory.headers };
    expect(Object.keys(headers)).toEqual(['sepal_user', 'cookie', 'sepal-user']);

    const outcome = (() => {
      try {
        const user = sepalUser(headers, { sepalHost: suite.sepal.origin });
        return { username: user.username, project: user.project };
      } catch (error) {
        return { code: (error as { code?: string }).code };
      }
    })();
    // Either the gateway's header wins, or the ambiguity is refused like a duplicated `sepal-user` is.
    expect([{ username: 'mallory', project: 'ee-mallory' }, { code: 'invalid_credentials' }]).toContainEqual(outcome);
  });

  it('the same through a real Node http server and fromSepalHeaders(req.headers)', async () => {
    const { createServer } = await import('node:http');
    const mallory = suite.sepal.login('mallory');
    const forged = JSON.parse(mallory.headers['sepal-user']!) as { username: string; googleTokens: Record<string, unknown> };
    forged.username = 'alice';
    forged.googleTokens.projectId = 'ee-alice';
    const app = createServer((req, res) => {
      try {
        const earth = fromSepalHeaders(req.headers, { sepalHost: suite.sepal.origin, baseUrl: suite.ee.baseUrl, sharing: memorySharing() });
        suite.track(earth);
        res.end(JSON.stringify({ username: earth.user.username, project: earth.project }));
      } catch (error) {
        res.end(JSON.stringify({ code: (error as { code?: string }).code }));
      }
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = app.address() as { port: number };
      // The client's own header first, then what the gateway adds (http-proxy copies client headers, then sets its own).
      const response = await fetch(`http://127.0.0.1:${port}/`, {
        headers: [
          ['sepal_user', JSON.stringify(forged)],
          ['cookie', mallory.headers.cookie!],
          ['sepal-user', mallory.headers['sepal-user']!],
        ],
      });
      const outcome = (await response.json()) as Record<string, string>;
      expect([{ username: 'mallory', project: 'ee-mallory' }, { code: 'invalid_credentials' }]).toContainEqual(outcome);
    } finally {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
  });

  /** The code (or the username) `sepalUser` gives for `headers`. */
  function outcomeOf(headers: Parameters<typeof sepalUser>[0]): string {
    try {
      return sepalUser(headers, { sepalHost: suite.sepal.origin }).username;
    } catch (error) {
      return (error as SessionError).code;
    }
  }

  it('every other way of carrying two spellings is refused too: Fetch Headers, case variants in a record, the cookie', () => {
    const mallory = suite.sepal.login('mallory');
    const alice = suite.sepal.login('alice');
    const real = mallory.headers['sepal-user']!;
    const forged = alice.headers['sepal-user']!;
    const cookie = mallory.headers.cookie!;
    // Fetch Headers folds case but keeps `sepal_user` apart from `sepal-user`.
    expect(outcomeOf(new Headers([['sepal_user', forged], ['cookie', cookie], ['sepal-user', real]]))).toBe('invalid_credentials');
    // A record built by hand (or by a framework) can hold two cases of one name.
    expect(outcomeOf({ 'Sepal-User': forged, cookie, 'sepal-user': real })).toBe('invalid_credentials');
    expect(outcomeOf({ 'SEPAL_USER': forged, cookie, 'sepal-user': real })).toBe('invalid_credentials');
    // The session cookie too: the key and the refresh use it.
    expect(outcomeOf({ Cookie: alice.headers.cookie!, cookie, 'sepal-user': real })).toBe('invalid_credentials');
    // The message names the header, never a value.
    let caught: unknown;
    try {
      sepalUser({ sepal_user: forged, cookie, 'sepal-user': real }, { sepalHost: suite.sepal.origin });
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).toMatch(/sepal-user header appears under more than one spelling/);
    for (const secret of [mallory.sessionId, alice.sessionId, mallory.accessToken, alice.accessToken]) {
      expect(`${String(caught)} ${JSON.stringify(caught)}`).not.toContain(secret);
    }
  });

  it('one spelling alone is still read: the canonical one in any case, or the underscore one', () => {
    const mallory = suite.sepal.login('mallory');
    const { cookie } = mallory.headers;
    const user = mallory.headers['sepal-user']!;
    expect(outcomeOf({ cookie, 'sepal-user': user })).toBe('mallory');
    expect(outcomeOf({ Cookie: cookie, 'Sepal-User': user })).toBe('mallory');
    expect(outcomeOf(new Headers({ cookie: cookie!, 'Sepal-User': user }))).toBe('mallory');
    expect(outcomeOf({ cookie, sepal_user: user })).toBe('mallory');
    expect(outcomeOf(new Headers({ cookie: cookie!, sepal_user: user }))).toBe('mallory');
  });

  it('the key separates sign-ins by a SHA-256 key of the session id; an ill-formed username is invalid_credentials', () => {
    const login = suite.sepal.login('alice');
    const user = sepalUser(login.headers, { sepalHost: suite.sepal.origin });
    expect(user.key.endsWith(`|${hashKey(login.sessionId)}`)).toBe(true);
    const parsed = JSON.parse(login.headers['sepal-user']!) as { username: string };
    for (const username of ['alice\uD800', 'alice\uDFFF']) {
      parsed.username = username;
      expect(outcomeOf({ ...login.headers, 'sepal-user': JSON.stringify(parsed) })).toBe('invalid_credentials');
    }
  });
});
