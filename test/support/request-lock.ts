import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/*
 * A context holds its credential's request lock while it refreshes (src/sharing/browser/sharing.ts, `locked`): a
 * test that takes that lock has a moment with no refresh under way and none starting, e.g. to kill the leader between
 * two rotations (killed during one, it takes the only copy of the rotated refresh token with it, and every context is
 * signed out by design). The page's app has one credential; waiters for the lock give up after the session's
 * `answerTimeout` (2 s by default), so a test releases it well within that.
 */

/**
 * Takes the credential's request lock (`<channel>:request`, the channel read from the leader's election lock,
 * `pubkey-bc||native||<channel>`) in `page`, any page of the origin (its session, if any, is not involved); waits
 * for it at most `within` ms. Resolves once held; `release` lets it go.
 */
export async function holdRequestLock(page: Page, within: number): Promise<{ release(): Promise<void> }> {
  const held = page.evaluate(async () => {
    const { held: locks = [] } = await navigator.locks.query();
    const election = locks.map((lock) => lock.name ?? '').find((name) => name.startsWith('pubkey-bc||native||shared-session-'));
    if (election === undefined) return 'no leader holds an election lock';
    const name = `${election.slice('pubkey-bc||native||'.length)}:request`;
    return new Promise<string>((acquired) => {
      void navigator.locks.request(
        name,
        () =>
          new Promise<void>((release) => {
            (globalThis as unknown as { releaseRequestLock(): void }).releaseRequestLock = release;
            acquired('held');
          }),
      );
    });
  });
  const outcome = await Promise.race([held, new Promise<string>((resolve) => setTimeout(resolve, within, `the request lock not free within ${within} ms`))]);
  expect(outcome).toBe('held');
  return { release: () => page.evaluate(() => (globalThis as unknown as { releaseRequestLock(): void }).releaseRequestLock()) };
}
