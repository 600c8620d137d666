import { createHash, randomBytes } from 'node:crypto';
import type { OpenIdProvider } from './openid-provider.js';

/**
 * A grant of the test OpenID provider started outside any session: the user signs in through the provider's login
 * form (driven with fetch and a cookie jar, as a browser would), and the code is exchanged with PKCE. For tests of
 * `refreshTokenGrant` against oidc-provider's rotation with reuse detection, which start from a refresh token.
 */
export interface ProviderGrant {
  readonly refreshToken: string;
  readonly accessToken: string;
  readonly tokenUrl: string;
}

export async function startProviderGrant(
  provider: OpenIdProvider,
  options: { clientId: string; redirectUri: string; scope?: string; login?: string },
): Promise<ProviderGrant> {
  const { clientId, redirectUri, scope = 'openid offline_access api', login = 'ada.lovelace' } = options;
  const discovery = (await (await fetch(`${provider.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  const verifier = randomBytes(32).toString('base64url');
  const authorization = new URL(discovery.authorization_endpoint!);
  authorization.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope,
    prompt: 'consent',
    state: randomBytes(8).toString('base64url'),
    nonce: randomBytes(8).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const left = await signInAtProvider(provider, authorization, login);
  const code = left.searchParams.get('code');
  if (code === null) throw new Error(`the sign-in did not come back with a code: ${left.href}`);
  const exchanged = await fetch(discovery.token_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
  });
  const body = (await exchanged.json()) as { refresh_token?: string; access_token?: string };
  if (body.refresh_token === undefined || body.access_token === undefined) throw new Error(`the code exchange issued no refresh token (${exchanged.status})`);
  return { refreshToken: body.refresh_token, accessToken: body.access_token, tokenUrl: discovery.token_endpoint! };
}

/** The user opens the authorization request `url`, types `login` into the provider's form and comes back: the callback URL. */
export async function signInAtProvider(provider: OpenIdProvider, url: URL, login = 'ada.lovelace'): Promise<URL> {
  const cookies = new Map<string, string>();
  const request = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const equals = pair.indexOf('=');
      cookies.set(pair.slice(0, equals), pair.slice(equals + 1));
    }
    return response;
  };
  /** Follows redirects at the provider until one leaves it: that URL, or the page it stopped at. */
  const follow = async (first: Response): Promise<{ left?: URL; page?: Response }> => {
    let current = first;
    for (let hop = 0; hop < 10; hop++) {
      const location = current.headers.get('location');
      if (location === null) return { page: current };
      const next = new URL(location, provider.issuer);
      if (next.origin !== new URL(provider.issuer).origin) return { left: next };
      current = await request(next.href);
    }
    throw new Error('too many redirects');
  };
  const form = await follow(await request(url.href));
  const html = await form.page!.text();
  const action = new URL(/action="([^"]+)"/.exec(html)![1]!, provider.issuer);
  const submitted = await request(action.href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login }).toString(),
  });
  const { left } = await follow(submitted);
  if (left === undefined) throw new Error('the provider did not send the browser back to the app');
  return left;
}
