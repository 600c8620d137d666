import type { Page } from 'playwright-core';

/** Requests a page makes as an app's would, for the tests of what goes out with them. */

/** Adds an `<img>` to the page and resolves with its natural width (0 when it failed to load). */
export function loadImage(page: Page, src: string): Promise<number> {
  return page.evaluate(
    (source) =>
      new Promise<number>((resolve) => {
        const image = document.createElement('img');
        image.onload = () => resolve(image.naturalWidth);
        image.onerror = () => resolve(0);
        image.src = source;
        document.body.append(image);
      }),
    src,
  );
}

/** A plain `fetch(url)` from the page: its status and body. */
export function pageFetch(page: Page, url: string): Promise<{ status: number; body: string }> {
  return page.evaluate(async (target) => {
    const response = await fetch(target);
    return { status: response.status, body: await response.text() };
  }, url);
}
