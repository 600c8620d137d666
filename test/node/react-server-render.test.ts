import { createElement, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { createSession, customProvider, isSessionError, memorySharing, type Session } from '../../src/index.js';
import { oidcSession } from '../../src/oidc.js';
import { SessionProvider, useSession, useSignedIn, useToken, useUser } from '../../src/react.js';

function Status(): ReactNode {
  const signedIn = useSignedIn();
  const user = useUser();
  const token = useToken();
  const session = useSession();
  return createElement('p', null, `${signedIn ? 'signed in' : 'signed out'}|${user?.sub ?? 'nobody'}|${token === undefined ? 'no token' : 'token'}|${session === undefined ? 'no session' : 'session'}`);
}

describe('shared-session/react in a server render (react-dom/server, Node: no window)', () => {
  it('renders signed out with a session made for the app, touching no window', async () => {
    expect(typeof window).toBe('undefined');
    const session = createSession({
      provider: customProvider({ key: 'ssr', fetchToken: async () => ({ accessToken: 'a', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 60_000 }) }),
      sharing: memorySharing(),
    });
    // Even with a token in memory: the server snapshot is signed out, so that hydration matches on every client.
    await session.getToken();
    const html = renderToString(createElement(SessionProvider, { session }, createElement(Status)));
    expect(html).toBe('<p>signed out|nobody|no token|session</p>');
    await session.close();
  });

  it('never calls a session factory on the server', () => {
    let made = 0;
    const factory = (): Session => {
      made++;
      throw new Error('must not run on the server');
    };
    const html = renderToString(createElement(SessionProvider, { session: factory }, createElement(Status)));
    expect(html).toBe('<p>signed out|nobody|no token|no session</p>');
    expect(made).toBe(0);
  });

  it('renders an oidcSession made at module level (as a Next.js page module would) without throwing', async () => {
    const session = oidcSession({ issuer: 'https://login.example.com', clientId: 'web', redirectUri: 'https://app.example.com/callback' });
    const html = renderToString(createElement(SessionProvider, { session }, createElement(Status)));
    expect(html).toBe('<p>signed out|nobody|no token|session</p>');
    await session.ready.catch(() => undefined);
    await session.close();
  });

  it('a hook outside a provider is invalid_options, not a bare TypeError', () => {
    let thrown: unknown;
    try {
      renderToString(createElement(Status));
    } catch (error) {
      thrown = error;
    }
    expect(isSessionError(thrown, 'invalid_options')).toBe(true);
  });
});
