import { SessionError, type ErrorCode } from '../core/errors.js';

/** How often the opener looks whether the user closed the popup (ms). */
const POLL = 200;
/**
 * How long after the popup closed the opener still waits for its result (ms): the callback page sends it and then
 * closes itself, and the message may arrive a moment after the window is gone.
 */
const GRACE = 400;

/**
 * Whether this page is served with `Cross-Origin-Opener-Policy: same-origin`: the browser then cuts the opener off
 * from a popup that navigates to another origin (the provider), and `closed` reads true from that moment although
 * the popup is open. Scripts cannot read their document's headers, so the page's own URL is asked (`HEAD`, once per
 * page); when that fails, the page counts as without COOP.
 */
let severing: Promise<boolean> | undefined;
export function popupsSevered(fetch: typeof globalThis.fetch, timeout: number): Promise<boolean> {
  // Bounded as every wait is: an app server that never answers HEAD counts as one that failed.
  const signal = AbortSignal.timeout(timeout);
  const asked = (severing ??= fetch(location.href, { method: 'HEAD', cache: 'no-store', credentials: 'same-origin', signal }).then(
    (response) => (response.headers.get('cross-origin-opener-policy') ?? '').split(';')[0]!.trim().toLowerCase() === 'same-origin',
    () => false,
  ));
  return Promise.race([asked, new Promise<boolean>((resolve) => setTimeout(resolve, timeout, false))]);
}

/** The popup's window, as far as we use it. */
export interface PopupWindow {
  readonly closed: boolean;
  close(): void;
  location: { href: string } | Location;
}

/**
 * Opens the popup at once (`about:blank`), while the click that asked for it still counts as a user gesture: the
 * provider's URL is known only after awaiting discovery and IndexedDB, and browsers block a popup opened later.
 * Undefined when the browser blocked it.
 */
export function openPopup(name: string): PopupWindow | undefined {
  const width = 520;
  const height = 680;
  const left = Math.max(0, (screen.width - width) / 2);
  const top = Math.max(0, (screen.height - height) / 2);
  return window.open('about:blank', name, `popup,width=${width},height=${height},left=${left},top=${top}`) ?? undefined;
}

/**
 * Waits for the result of the popup's sign-in, which its callback page sends on the sign-in channel keyed by
 * `state` (no `window.opener` needed: it works under Cross-Origin-Opener-Policy). Rejects with `popup_closed` when
 * the user closes the popup first. `subscribe` delivers the results that arrive and returns how to stop listening;
 * `signedInMeanwhile` tells whether a sign-in completed anyway (its result message lost). With `severed` (COOP
 * `same-origin`, see `popupsSevered`) a closing cannot be seen: the wait ends with the result, or with
 * `popup_closed` after `giveUpAfter` ms.
 */
export function waitForPopup(
  popup: PopupWindow,
  state: string,
  subscribe: (listener: (state: string, code: string | undefined) => void) => () => void,
  signedInMeanwhile: () => boolean,
  { severed, giveUpAfter }: { severed: boolean; giveUpAfter: number },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let closedTimer: ReturnType<typeof setTimeout> | undefined;
    const finish = (error?: SessionError): void => {
      clearInterval(poll);
      clearTimeout(closedTimer);
      unsubscribe();
      if (error === undefined) resolve();
      else reject(error);
    };
    const unsubscribe = subscribe((resultState, code) => {
      if (resultState !== state) return;
      if (code === undefined) return finish();
      finish(new SessionError(code as ErrorCode, `The sign-in in the popup failed (${code})`));
    });
    const closed = (): void => {
      if (signedInMeanwhile()) finish();
      else finish(new SessionError('popup_closed', 'The sign-in popup was closed before the sign-in completed'));
    };
    const poll = setInterval(() => {
      if (!severed && popup.closed && closedTimer === undefined) closedTimer = setTimeout(closed, GRACE);
    }, POLL);
    if (severed) closedTimer = setTimeout(closed, giveUpAfter);
  });
}

/**
 * `work` (discovery, storage: what the sign-in needs before the popup goes to the provider), or `popup_closed` as soon
 * as the user closes the popup meanwhile. Still `about:blank`, of our origin: `closed` is true only when it is.
 */
export function whilePopupOpen<T>(popup: PopupWindow, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const poll = setInterval(() => {
      if (!popup.closed) return;
      clearInterval(poll);
      reject(new SessionError('popup_closed', 'The sign-in popup was closed before the sign-in completed'));
    }, POLL);
    work.then(resolve, reject).finally(() => clearInterval(poll));
  });
}
