import { PassThrough } from 'node:stream';
import { createElement, Suspense, type ReactNode } from 'react';
import { renderToPipeableStream } from 'react-dom/server';
import { expect, it } from 'vitest';
import { oidcSession } from '../../src/oidc.js';
import { SessionProvider, useSignedIn, useToken, useUser } from '../../src/react.js';

function Status(): ReactNode {
  const token = useToken();
  return createElement('p', null, `${useSignedIn() ? 'in' : 'out'}|${useUser()?.sub ?? '-'}|${token === undefined ? '-' : 'token'}`);
}

it('renderToPipeableStream (streaming SSR, Suspense) with a module-level oidcSession and with a factory: signed out, no throw', async () => {
  const session = oidcSession({ issuer: 'https://login.example.com', clientId: 'web', redirectUri: 'https://app.example.com/callback' });
  const render = (provided: Parameters<typeof SessionProvider>[0]['session']): Promise<string> =>
    new Promise((resolve, reject) => {
      const sink = new PassThrough();
      let html = '';
      sink.on('data', (chunk: Buffer) => (html += chunk.toString()));
      sink.on('end', () => resolve(html));
      const tree = createElement(SessionProvider, { session: provided }, createElement(Suspense, { fallback: 'loading' }, createElement(Status)));
      const stream = renderToPipeableStream(tree, { onAllReady: () => stream.pipe(sink), onShellError: reject, onError: reject });
    });
  expect(await render(session)).toContain('<p>out|-|-</p>');
  expect(await render(() => session)).toContain('<p>out|-|-</p>');
  await session.ready.catch(() => undefined);
  await session.close();
});
