// The secrets scan of the transports: where a secret shows up, in any of the forms it could take on a wire, in a
// file or in a log line.

export interface Secret {
  /** What it is, for the failure message (`client secret`, `refresh token`, `private key`). Never its value. */
  readonly name: string;
  readonly value: string;
}

/** The secret as is, URL-encoded (a form body), JSON-escaped (a message) and in base64 / base64url (a header, a blob). */
export function formsOf(value: string): string[] {
  const bytes = Buffer.from(value);
  const forms = [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), bytes.toString('base64'), bytes.toString('base64url')];
  // base64 of a value inside a longer string depends on its offset: also the three alignments' stable middle part.
  for (let offset = 1; offset < 3; offset++) {
    const shifted = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    forms.push(shifted.slice(4, -4));
  }
  return [...new Set(forms.filter((form) => form.length >= 8))];
}

/** `<secret name> in <place>` for every secret found in a place (empty: nothing leaked). */
export function leaks(places: Readonly<Record<string, string | Uint8Array>>, secrets: readonly Secret[]): string[] {
  const found: string[] = [];
  for (const [place, content] of Object.entries(places)) {
    const text = typeof content === 'string' ? content : Buffer.from(content).toString('latin1');
    for (const secret of secrets) {
      if (formsOf(secret.value).some((form) => text.includes(form))) found.push(`${secret.name} in ${place}`);
    }
  }
  return found;
}
