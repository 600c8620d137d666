import { describe, expect, it } from 'vitest';
import { createSession, customProvider, memorySharing, type SessionSnapshot, type Token } from '../../src/index.js';

let keys = 0;
function tokenIn(ms: number, accessToken = `token-${++keys}`): Token {
  const now = Date.now();
  return { accessToken, tokenType: 'Bearer', issuedAt: now, expiresAt: now + ms };
}

function plainSession(issue: () => Token = () => tokenIn(60_000)) {
  const sharing = memorySharing();
  const key = `store-${++keys}`;
  return { sharing, key, session: createSession({ provider: customProvider({ key, fetchToken: async () => issue() }), sharing }) };
}

describe('session store (subscribe + getSnapshot) on a plain createSession', () => {
  it('hands the same snapshot object until something changes, and a new one (with the token) after', async () => {
    const { session } = plainSession();
    const first = session.getSnapshot();
    expect(session.getSnapshot()).toBe(first);
    // A credential that needs no user is signed in before its first token.
    expect(first).toEqual({ signedIn: true, user: undefined });
    expect(Object.isFrozen(first)).toBe(true);
    const token = await session.getToken();
    const second = session.getSnapshot();
    expect(second).not.toBe(first);
    expect(second.token).toEqual(token);
    expect(session.getSnapshot()).toBe(second);
    await session.close();
  });

  it('follows the Svelte store contract: the listener gets the current value at once, then every change, until unsubscribed', async () => {
    const { session } = plainSession();
    const seen: SessionSnapshot[] = [];
    const unsubscribe = session.subscribe((snapshot) => seen.push(snapshot));
    expect(seen).toHaveLength(1);
    await session.getToken();
    expect(seen).toHaveLength(2);
    expect(seen[1]?.token).toBeDefined();
    await session.clear();
    expect(seen.at(-1)?.token).toBeUndefined();
    const count = seen.length;
    unsubscribe();
    await session.getToken();
    expect(seen).toHaveLength(count);
    // Every snapshot a listener got is the one getSnapshot returned then: listeners never see a transient object.
    for (const snapshot of seen) expect(Object.isFrozen(snapshot)).toBe(true);
    await session.close();
  });

  it('tells every handle of the credential of a token another handle got, and of the sign-out', async () => {
    const { sharing, key, session } = plainSession();
    const other = createSession({ provider: customProvider({ key, fetchToken: async () => tokenIn(60_000) }), sharing });
    const seen: SessionSnapshot[] = [];
    other.subscribe((snapshot) => seen.push(snapshot));
    const token = await session.getToken();
    expect(seen.at(-1)?.token).toEqual(token);
    expect(other.getSnapshot()).toBe(seen.at(-1));
    await session.clear();
    expect(seen.at(-1)?.token).toBeUndefined();
    await Promise.all([session.close(), other.close()]);
  });

  it('never shows an expired token', async () => {
    let issued = 0;
    // One short-lived token, then the endpoint fails: nothing replaces the token when it runs out.
    const { session } = plainSession(() => {
      if (issued++ > 0) throw new Error('endpoint down');
      return tokenIn(30);
    });
    await session.getToken();
    expect(session.getSnapshot().token).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(session.getSnapshot().token).toBeUndefined();
    await session.close();
  });

  it('a listener that throws on a change does not keep the others from hearing', async () => {
    const { session } = plainSession();
    const thrown: unknown[] = [];
    const onError = (error: unknown): void => void thrown.push(error);
    process.on('uncaughtException', onError);
    try {
      let calls = 0;
      let first = true;
      session.subscribe(() => {
        // At subscribe a throw reaches the caller, as with Svelte's own stores; on a change it is isolated.
        if (first) first = false;
        else throw new Error('app bug');
      });
      session.subscribe(() => calls++);
      await session.getToken();
      expect(calls).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(thrown.length).toBeGreaterThan(0);
    } finally {
      process.off('uncaughtException', onError);
      await session.close();
    }
  });

  it('a closed handle reads as signed out and stops calling its listeners', async () => {
    const { session } = plainSession();
    let calls = 0;
    session.subscribe(() => calls++);
    await session.getToken();
    await session.close();
    expect(session.getSnapshot()).toEqual({ signedIn: false, user: undefined });
    const unsubscribe = session.subscribe(() => calls++);
    unsubscribe();
    expect(calls).toBe(3);
  });
});
