import { execFile } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * Review: a server render with an oidcSession made at module level (as a Next.js page module or a prerender script
 * does, never closed: it is the app's one session) must not keep the Node process alive once the work is done.
 * Observed: the session's sign-in BroadcastChannel (a Node MessagePort) held the event loop open forever.
 */
it('a Node process that rendered with a module-level oidcSession exits by itself', { timeout: 30_000 }, async () => {
  const script = `
    import { createElement } from 'react';
    import { renderToString } from 'react-dom/server';
    import { oidcSession } from './src/oidc.ts';
    import { SessionProvider, useSignedIn } from './src/react.ts';
    const session = oidcSession({ issuer: 'https://login.example.com', clientId: 'web', redirectUri: 'https://app.example.com/callback' });
    const Status = () => createElement('p', null, useSignedIn() ? 'in' : 'out');
    console.log(renderToString(createElement(SessionProvider, { session }, createElement(Status))));
    await session.ready.catch(() => undefined);
  `;
  const started = Date.now();
  const outcome = await new Promise<{ code: number | null; killed: boolean; stdout: string }>((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 15_000 }, (error, stdout) =>
      resolve({ code: child.exitCode, killed: error?.killed === true, stdout }),
    );
  });
  expect(outcome.stdout.trim()).toBe('<p>out</p>');
  expect({ killed: outcome.killed, code: outcome.code }).toEqual({ killed: false, code: 0 });
  expect(Date.now() - started).toBeLessThan(15_000);
});
