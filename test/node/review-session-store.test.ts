import { describe, expect, it } from 'vitest';
import { createSession, customProvider, memorySharing, staticToken, type SessionSnapshot } from '../../src/index.js';

describe('review: the session store as a UI subscribes to it', () => {
  it('a listener is told when the token it was shown runs out, though no event says so (static token, or a tab that does not lead)', async () => {
    // A token nobody refreshes here: a static token, as in a tab whose leader is elsewhere (no timer, no event at expiry).
    const session = createSession({ provider: staticToken({ accessToken: 'abc', expiresAt: Date.now() + 150 }), sharing: memorySharing() });
    const seen: SessionSnapshot[] = [];
    const unsubscribe = session.subscribe((snapshot) => seen.push(snapshot));
    await session.getToken();
    expect(seen.at(-1)?.token).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 400));
    // The snapshot the UI last got (useToken, $session.token) must not be the expired token.
    expect(seen.at(-1)?.token).toBeUndefined();
    expect(seen.at(-1)).toBe(session.getSnapshot());
    unsubscribe();
    await session.close();
  });

  it('with a clock slower than the timers (an injected, server-synchronised clock), the expiry is still told', async () => {
    const start = Date.now();
    const clock = { now: () => start + (Date.now() - start) / 3 };
    const session = createSession({ provider: staticToken({ accessToken: 'slow-clock', expiresAt: start + 80 }), sharing: memorySharing(), clock });
    const seen: SessionSnapshot[] = [];
    const unsubscribe = session.subscribe((snapshot) => seen.push(snapshot));
    await session.getToken();
    expect(seen.at(-1)?.token).toBeDefined();
    // The token runs out at 80 ms of the session's clock: 240 ms of the timers'.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(seen.at(-1)?.token).toBeUndefined();
    unsubscribe();
    await session.close();
  });

  it('an expiry timer neither calls a listener once unsubscribed nor after close()', async () => {
    const make = () => createSession({ provider: staticToken({ accessToken: `t${Math.random()}`, expiresAt: Date.now() + 100 }), sharing: memorySharing() });
    const a = make();
    const b = make();
    await Promise.all([a.getToken(), b.getToken()]);
    let calls = 0;
    a.subscribe(() => calls++)();
    b.subscribe(() => calls++);
    await b.close();
    const before = calls;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toBe(before);
    await a.close();
  });

  it('a listener unsubscribed by another during a notification is not called by it (Svelte store contract)', async () => {
    const session = createSession({
      provider: customProvider({ key: 'review-unsub', fetchToken: async () => ({ accessToken: 'a', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 60_000 }) }),
      sharing: memorySharing(),
    });
    let unsubscribed = false;
    let callsAfter = 0;
    let offB: () => void = () => undefined;
    const offA = session.subscribe((snapshot) => {
      if (snapshot.token !== undefined) {
        unsubscribed = true;
        offB();
      }
    });
    offB = session.subscribe(() => {
      if (unsubscribed) callsAfter++;
    });
    await session.getToken();
    expect(unsubscribed).toBe(true);
    expect(callsAfter).toBe(0);
    offA();
    await session.close();
  });
});
