/**
 * A person's browser played with fetch, for sign-ins driven from Node tests (the command line's loopback redirect):
 * follows redirects by hand keeping the provider's cookies, fills the login form of test/support/openid-provider.ts
 * (any user name works) or presses its Cancel button, and stops at the first URL outside the provider (the app's
 * redirect URI), which it requests as a browser would. Bounded: at most 20 steps.
 */
export interface BrowserVisit {
  /** The URL the provider finally sent the browser to (the redirect URI with its query). */
  readonly redirectedTo: string;
  /** What the redirect URI's server answered. */
  readonly status: number;
  readonly body: string;
}

export async function signInAsBrowser(authorizationUrl: string, options: { login?: string; deny?: boolean } = {}): Promise<BrowserVisit> {
  const providerOrigin = new URL(authorizationUrl).origin;
  const cookies = new Map<string, string>();
  let url = authorizationUrl;
  let init: RequestInit = {};
  for (let step = 0; step < 20; step++) {
    if (new URL(url).origin !== providerOrigin) {
      const response = await fetch(url, { redirect: 'manual' });
      return { redirectedTo: url, status: response.status, body: await response.text() };
    }
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      url = new URL(location, url).href;
      init = {};
      continue;
    }
    const html = await response.text();
    const form = /<form method="post" action="([^"]+)" id="sign-in-form">/.exec(html);
    if (response.status !== 200 || form === null) throw new Error(`the provider showed no login form (${response.status}): ${html.slice(0, 200)}`);
    url = new URL(form[1]!.replace(/&amp;/g, '&'), url).href;
    const body = options.deny === true ? new URLSearchParams({ error: 'access_denied' }) : new URLSearchParams({ login: options.login ?? 'alice' });
    init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() };
  }
  throw new Error('the sign-in took more than 20 steps');
}
