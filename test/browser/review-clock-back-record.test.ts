import { expect, it } from "vitest";
import { leaderOf } from "../support/probe-tabs.js";
import { inTab, logOf, openTabs, tabUrl, useTabs } from "../support/tabs.js";

const env = useTabs();

// Review (issue 30, "clock jumps"): the computer's clock goes back two minutes (an NTP step after a resume, a user
// correcting it) after the leader stored its rotated refresh token. Every tab shares that clock, so the record's
// `issuedAt` is now in every tab's future — the same as the record rewritten here with `issuedAt` two minutes ahead.
// docs/reliability.md: "a token read from a message or a record with an `issuedAt` in the future is taken as issued
// now, with its lifetime kept". Observed: the record store deletes it as corrupt (`corrupt_storage`), with the newest
// refresh token in it; the tab that leads next sends the refresh token it read before the last rotation — spent at
// the server — and every tab is signed out. Expected: the token from the future is never handed out (reported,
// `corrupt_storage`, once), but the refresh token beside it is kept: no refresh token sent twice, nobody signed out.
it("a clock that went back after a rotation: its refresh token is kept, not deleted; no spent refresh token is sent", async () => {
  const client = env.server.addClient("clock-back");
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, {
    client: client.id,
    secret: client.secret,
    rt: env.server.issueRefreshToken(client.id),
  });
  const tabs = await openTabs(context, url, 2);
  await Promise.all(
    tabs.map((tab) => inTab(tab, (harness) => harness.token()))
  );
  const leader = tabs[await leaderOf(tabs)]!;
  const other = tabs.find((tab) => tab !== leader)!;
  // The other tab has read the record (and its refresh token); the leader rotates once more, which it does not read.
  await inTab(leader, (harness) => harness.token("a", { forceRefresh: true }));
  await expect
    .poll(() => inTab(other, (harness) => harness.token()))
    .toBe(await inTab(leader, (harness) => harness.token()));

  // The clock goes back 2 minutes: the stored token was issued in everyone's future.
  await inTab(leader, async (harness) => {
    const [json] = await harness.records();
    const record = JSON.parse(json!) as {
      token: { issuedAt: number; expiresAt: number };
    };
    record.token.issuedAt += 120_000;
    record.token.expiresAt += 120_000;
    await harness.corruptRecords(record);
  });
  await leader.close();
  await expect
    .poll(() => inTab(other, (harness) => harness.isLeader()))
    .toBe(true);
  const outcome = await inTab(other, (harness) =>
    harness.token("a", { forceRefresh: true }).then(
      () => "token",
      (error: { code?: string }) => `error:${error.code}`
    )
  );
  const errors = (await logOf(other))
    .filter((entry) => entry.event === "error")
    .map((entry) => entry.detail);
  expect({
    outcome,
    reused: env.server.stats.refreshTokenReuse,
    errors,
  }).toEqual({ outcome: "token", reused: 0, errors: ["corrupt_storage"] });
  await context.close();
});
