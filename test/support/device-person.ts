/**
 * A person approving (or refusing) a device sign-in through oidc-provider's own pages, with fetch as a browser would:
 * open the verification URI, type the user code into its form, confirm, sign in on the login form, and follow every
 * redirect with the cookies the provider set. Nothing is skipped or forged: the provider sees what a browser sends.
 */
export interface Person {
  /** The user name typed on the login form. */
  readonly login: string;
  /** Press "Abort" on the confirmation page instead of "Continue". */
  readonly refuse?: boolean;
}

export async function approveDeviceSignIn(verificationUri: string, userCode: string, person: Person): Promise<string> {
  const cookies = new Map<string, string>();
  const send = async (url: string, form?: Record<string, string>): Promise<{ url: string; body: string; status: number }> => {
    let current = url;
    let body: URLSearchParams | undefined = form === undefined ? undefined : new URLSearchParams(form);
    for (let hops = 0; hops < 20; hops++) {
      const response = await fetch(current, {
        method: body === undefined ? 'GET' : 'POST',
        redirect: 'manual',
        headers: {
          cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
          ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        ...(body === undefined ? {} : { body }),
      });
      for (const header of response.headers.getSetCookie()) {
        const [pair] = header.split(';');
        const at = pair!.indexOf('=');
        const name = pair!.slice(0, at).trim();
        const value = pair!.slice(at + 1).trim();
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(header)) cookies.delete(name);
        else cookies.set(name, value);
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.arrayBuffer();
        current = new URL(location, current).href;
        body = undefined;
        continue;
      }
      return { url: current, body: await response.text(), status: response.status };
    }
    throw new Error('too many redirects');
  };

  const entry = await send(verificationUri);
  const inputForm = formOf(entry.body, 'op.deviceInputForm');
  const confirmPage = await send(new URL(inputForm.action, entry.url).href, { ...inputForm.fields, user_code: userCode });
  const confirmForm = formOf(confirmPage.body, 'op.deviceConfirmForm');
  const { confirm, ...withoutConfirm } = confirmForm.fields;
  void confirm;
  const decided = await send(
    new URL(confirmForm.action, confirmPage.url).href,
    person.refuse === true ? { ...withoutConfirm, abort: 'yes' } : confirmForm.fields,
  );
  if (person.refuse === true) return decided.body;
  // The login form of the test provider (an interaction), then consent, which it grants by itself.
  const loginForm = formOf(decided.body, 'sign-in-form');
  const done = await send(new URL(loginForm.action, decided.url).href, { login: person.login });
  if (!done.body.includes('device-success')) throw new Error(`the sign-in did not end on the success page (${done.status}): ${done.body.slice(0, 300)}`);
  return done.body;
}

/** The action and the named inputs of the form with `id` on `html`. */
function formOf(html: string, id: string): { action: string; fields: Record<string, string> } {
  const start = html.indexOf(`id="${id}"`);
  if (start === -1) throw new Error(`no form ${id} on the page: ${html.slice(0, 300)}`);
  const open = html.lastIndexOf('<form', start);
  const end = html.indexOf('</form>', start);
  const form = html.slice(open, end);
  const action = /action="([^"]*)"/.exec(form)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const input of form.matchAll(/<input\b[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name !== undefined && /type="hidden"/.test(input[0])) fields[name] = value;
  }
  return { action: action.replace(/&amp;/g, '&'), fields };
}
