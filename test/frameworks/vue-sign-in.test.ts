import { it } from 'vitest';
import { signInLifecycle, useFrameworkApp } from './app-server.js';

/** examples/vue-sign-in, built by Vite: Vue 3 on the session's own store (`subscribe` + `getSnapshot` in a shallowRef). */
const app = useFrameworkApp('vue-sign-in', async () => [(await import('@vitejs/plugin-vue')).default()]);

it('Vue 3: signs in through the provider form (1 code exchange, no error), every page, reload, second tab, sign-out in both', async () => {
  await signInLifecycle(app);
});
