import { createSession, customProvider, type Session, type Token } from 'shared-session';
import { oidcSession, type OidcSession } from 'shared-session/oidc';
import { BACKEND_TOKEN_PATH, type DemoConfig, type DemoMode, MODE_PARAMETER } from '../config.js';

/** Tokens live 60 s here; refresh 15 s ahead so the countdown shows a refresh every 45 s. */
export const REFRESH_MARGIN = 15_000;

/** The session every tab and the service worker open, in the mode the page was opened in. */
export type DemoSession = { readonly mode: 'sign-in'; readonly session: OidcSession } | { readonly mode: 'client-credentials'; readonly session: Session };

/**
 * `sign-in` (the default): users sign in at the local OpenID provider (`oidcSession`: authorization code + PKCE, one
 * sign-in and one rotation-safe refresh for every tab). `client-credentials`: the service account's token, which the
 * demo's backend gets with the secret it keeps (`customProvider`): the page never holds a client secret.
 * Handles for the same credential share one session per context; the default `sharing` links the browser's contexts.
 */
export function openSession(origin: string, mode: DemoMode, config: DemoConfig | undefined): DemoSession {
  if (mode === 'sign-in') {
    if (config === undefined) throw new Error('sign-in needs the OpenID provider of `npm run demo`');
    const page = new URL('/', origin).href;
    return {
      mode,
      session: oidcSession({ ...config, redirectUri: page, postLogoutRedirectUri: page, refreshBeforeExpiry: REFRESH_MARGIN }),
    };
  }
  return {
    mode,
    session: createSession({
      provider: customProvider({ key: 'demo-backend', fetchToken: (signal) => backendToken(new URL(BACKEND_TOKEN_PATH, origin).href, signal) }),
      refreshBeforeExpiry: REFRESH_MARGIN,
    }),
  };
}

async function backendToken(url: string, signal: AbortSignal): Promise<Token> {
  const issuedAt = Date.now();
  const response = await fetch(url, { method: 'POST', signal });
  const body = (await response.json()) as { access_token?: string; token_type?: string; expires_in?: number; error?: string };
  if (!response.ok || body.access_token === undefined) throw new Error(`the backend answered ${response.status} ${body.error ?? ''}`);
  return { accessToken: body.access_token, tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + (body.expires_in ?? 60) * 1000 };
}

/** The mode of this page (`?mode=client-credentials`), or the default. */
export function modeOf(search: string): DemoMode {
  return new URLSearchParams(search).get(MODE_PARAMETER) === 'client-credentials' ? 'client-credentials' : 'sign-in';
}

/** The service worker's script URL: it opens the same session, so it learns the mode and the provider from it. */
export function serviceWorkerUrl(mode: DemoMode, config: DemoConfig | undefined): string {
  const query = new URLSearchParams({ [MODE_PARAMETER]: mode, ...(config === undefined ? {} : { ...config }) });
  return `/sw.ts?${query}`;
}

/** The provider settings back from the service worker's query. */
export function configOf(search: string): DemoConfig | undefined {
  const params = new URLSearchParams(search);
  const issuer = params.get('issuer');
  return issuer === null ? undefined : { issuer, clientId: params.get('clientId') ?? '', scope: params.get('scope') ?? '' };
}
