import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp } from '../support/oidc-app.js';

/**
 * Review of issue 25 (DPoP): storage that cannot keep the key. A browser whose IndexedDB opens but refuses to store a
 * CryptoKey (DataCloneError, as some private modes did) or whose quota is spent: the sign-in must fail at once with a
 * typed error and stay on the page (no authorization request bound by `dpop_jkt` to a key that nobody kept).
 */
const env = useOidcApp({ dpop: true });

for (const name of ['DataCloneError', 'QuotaExceededError']) {
  it(`IndexedDB refuses the key (${name}): signIn rejects with a SessionError, the page stays, nothing reaches the provider`, async () => {
    env.config = { ...env.config, dpop: true };
    const context = await env.browser.newContext();
    await context.addInitScript((errorName: string) => {
      const put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
        if (typeof value === 'object' && value !== null && 'privateKey' in value) throw new DOMException('refused by the test', errorName);
        return put.call(this, value, key);
      };
    }, name);
    const [page] = await openApps(context, env.appUrl, 1);
    const outcome = await Promise.race([
      inApp(page!, (app) => app.signInCode({})),
      new Promise<string>((resolve) => setTimeout(resolve, 8_000, 'hung')),
    ]).catch((error: Error) => `navigated: ${error.message.slice(0, 60)}`);
    expect(outcome).toBe('unsupported_context');
    expect(page!.url()).toBe(env.appUrl);
    expect(env.op.counts.authorizations).toBe(0);
    expect(await inApp(page!, (app) => app.token())).toBe('error:login_required');
    await context.close();
  }, 60_000);
}
