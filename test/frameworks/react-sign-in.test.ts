import { it } from 'vitest';
import { signInLifecycle, useFrameworkApp } from './app-server.js';

/**
 * examples/react-sign-in, built by Vite: React 19 in StrictMode, react-router, `shared-session/react` with a session
 * made by the provider in an effect (StrictMode: made, closed, made again, on the redirect page too).
 */
const app = useFrameworkApp('react-sign-in', async () => [(await import('@vitejs/plugin-react')).default()]);

it('React 19 StrictMode + react-router: signs in through the provider form (1 code exchange, no error), every page, reload, second tab, sign-out in both', async () => {
  await signInLifecycle(app);
});
