/**
 * Calls `leave` when this window's page enters the back/forward cache (`pagehide` with `persisted`) and `restore`
 * when it comes back from it (`pageshow` with `persisted`). Returns the function that removes both listeners.
 *
 * Why: Chromium evicts a cached page as soon as a message arrives on one of its open BroadcastChannels
 * (`BroadcastChannelOnMessage`), and a page that holds a Web Lock keeps another tab from taking over; so a context
 * steps out while cached and comes back on return. Only a Window gets these events (its global has `onpagehide`);
 * in a worker, Node or Deno this does nothing.
 */
export function onBackForwardCache(leave: () => void, restore: () => void): () => void {
  if (!('onpagehide' in globalThis) || typeof globalThis.addEventListener !== 'function') return () => undefined;
  const hide = (event: PageTransitionEvent): void => {
    if (event.persisted) leave();
  };
  const show = (event: PageTransitionEvent): void => {
    if (event.persisted) restore();
  };
  addEventListener('pagehide', hide);
  addEventListener('pageshow', show);
  return () => {
    removeEventListener('pagehide', hide);
    removeEventListener('pageshow', show);
  };
}
