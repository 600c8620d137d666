/**
 * A person's browser played with fetch, for sign-ins driven from Node tests (the command line): follows redirects by
 * hand keeping the provider's cookies, and fills the login form of test/support/openid-provider.ts as a person would
 * (any user name works) or refuses (Cancel). It stops at the first URL outside the provider (the app's redirect URI),
 * which it requests as a browser would, or at a page with no form. Bounded: 20 steps. (The device flow's pages:
 * test/support/device-person.ts.)
 */
export interface BrowserVisit {
  /** The last URL requested. */
  readonly url: string;
  /** Its answer. */
  readonly status: number;
  readonly body: string;
}

export interface PersonChoices {
  /** The user name typed into the login form. Default `alice`. */
  readonly login?: string;
  /** Refuse at the login form (Cancel). */
  readonly deny?: boolean;
}

/** Follows `authorizationUrl` through the provider's pages to the app's redirect URI. */
export function signInAsBrowser(authorizationUrl: string, choices: PersonChoices = {}): Promise<BrowserVisit> {
  return browse(authorizationUrl, choices);
}

async function browse(start: string, choices: PersonChoices): Promise<BrowserVisit> {
  const providerOrigin = new URL(start).origin;
  const cookies = new Map<string, string>();
  let url = start;
  let init: RequestInit = {};
  for (let step = 0; step < 20; step++) {
    if (new URL(url).origin !== providerOrigin) {
      const response = await fetch(url, { redirect: 'manual' });
      return { url, status: response.status, body: await response.text() };
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
    const next = submission(html, choices);
    if (next === undefined) return { url, status: response.status, body: html };
    url = new URL(next.action.replace(/&amp;/g, '&'), url).href;
    init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: next.form.toString() };
  }
  throw new Error('the sign-in took more than 20 steps');
}

/** What a person submits on this page, or undefined when it has no form to fill (a final page). */
function submission(html: string, choices: PersonChoices): { action: string; form: URLSearchParams } | undefined {
  const login = /<form method="post" action="([^"]+)" id="sign-in-form">/.exec(html);
  if (login !== null) {
    return { action: login[1]!, form: new URLSearchParams(choices.deny === true ? { error: 'access_denied' } : { login: choices.login ?? 'alice' }) };
  }
  return undefined;
}
