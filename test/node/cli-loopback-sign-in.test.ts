import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackSignIn } from '../../src/cli/loopback.js';
import { signInAsBrowser } from '../support/fetch-browser.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';

/**
 * The command line's browser sign-in (RFC 8252) against a real provider (oidc-provider, a native client whose
 * `http://127.0.0.1/callback` matches any port), the browser played with fetch through the provider's own pages.
 */

let provider: OpenIdProvider;
const clientId = 'cli';

beforeAll(async () => {
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/callback'], applicationType: 'native' }] });
});
afterAll(() => provider.close());

/** Starts the sign-in; resolves with the authorization URL it shows and the sign-in's outcome. */
async function start(timeout = 20_000): Promise<{ url: URL; outcome: Promise<Awaited<ReturnType<typeof loopbackSignIn>>> }> {
  let shown: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (shown = resolve));
  const outcome = loopbackSignIn({ issuer: provider.issuer, clientId, scope: 'openid offline_access', timeout, open: (at) => shown(at) });
  outcome.catch(() => undefined);
  return { url: new URL(await Promise.race([url, outcome.then(() => 'resolved without a URL')])), outcome };
}

describe('loopback sign-in (RFC 8252)', () => {
  it('binds 127.0.0.1 on a port of its own, sends PKCE S256 and a state, and gets a live token and a refresh token', async () => {
    const { url, outcome } = await start();
    const redirect = new URL(url.searchParams.get('redirect_uri')!);
    expect(redirect.protocol).toBe('http:');
    expect(redirect.hostname).toBe('127.0.0.1');
    expect(Number(redirect.port)).toBeGreaterThan(0);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    const visit = await signInAsBrowser(url.href);
    expect(visit.status).toBe(200);
    expect(visit.body).toContain('You are signed in');
    const set = await outcome;
    expect(await provider.introspect(set.token.accessToken)).toMatchObject({ active: true, sub: 'alice', clientId });
    expect(set.refreshToken).toEqual(expect.any(String));
    // The page the browser shows holds no token or code.
    expect(visit.body).not.toContain(set.token.accessToken);
    expect(visit.body).not.toContain(new URL(visit.url).searchParams.get('code')!);
    // One-shot: the listener is gone once the sign-in is over.
    await expect(fetch(visit.url)).rejects.toThrow();
  });

  it('answers a callback with another state 400 and keeps waiting for its own', async () => {
    const { url, outcome } = await start();
    const redirect = url.searchParams.get('redirect_uri')!;
    const forged = await fetch(`${redirect}?code=forged&state=not-the-one`);
    expect(forged.status).toBe(400);
    const stateless = await fetch(`${redirect}?code=forged`);
    expect(stateless.status).toBe(400);
    const visit = await signInAsBrowser(url.href);
    expect(visit.status).toBe(200);
    await expect(outcome).resolves.toMatchObject({ token: { tokenType: 'Bearer' } });
  });

  it('a refused sign-in is access_denied, and the browser is told', async () => {
    const { url, outcome } = await start();
    const visit = await signInAsBrowser(url.href, { deny: true });
    expect(visit.status).toBe(400);
    await expect(outcome).rejects.toMatchObject({ name: 'SessionError', code: 'access_denied' });
  });

  it('a sign-in not completed in time ends with the expired exit code, and the listener is closed', async () => {
    const { url, outcome } = await start(1_000);
    await expect(outcome).rejects.toMatchObject({ name: 'CliError', exitCode: 5 });
    await expect(fetch(url.searchParams.get('redirect_uri')!)).rejects.toThrow();
  });

  it('an issuer that cannot be reached is endpoint_unavailable, without a listener left behind', async () => {
    const outcome = loopbackSignIn({ issuer: 'http://127.0.0.1:9', clientId, scope: 'openid', timeout: 5_000, open: () => undefined });
    await expect(outcome).rejects.toMatchObject({ code: 'endpoint_unavailable' });
  });
});
