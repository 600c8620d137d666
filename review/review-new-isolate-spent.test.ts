import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { useProbeWorkers } from '../support/workerd.js';

// A refresh-token chain shared through the Durable Object rotates `env.REFRESH_TOKEN` away at its first refresh. After
// the chain ends (a sign-out, or the provider refusing the chain's token), the coordinator keeps no refresh token, and
// an isolate that never was on the chain (a brand-new isolate after a deploy, an eviction, a scale-out) starts again
// from `env.REFRESH_TOKEN` — spent long ago. The rule: a spent refresh token is sent at most once, ever. Observed here:
// every new isolate sends it again.

const probe = useProbeWorkers('edge-review-new-isolate', 'cf-review-new-isolate-s3cr3t');

it('after the chain ended, brand-new isolates do not each send the spent env.REFRESH_TOKEN again', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shared-session-review-'));
  try {
    probe.server.lifetime = 2; // margin 1 s
    const bindings = { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) };
    const first = await probe.start({ instances: 2, persist: dir, bindings });
    expect(await probe.get(first.mf, first.names[0]!, '/rotating')).toMatchObject({ status: 200 }); // env token rotated
    expect((await (await first.mf.getWorker(first.names[0]!)).fetch('http://worker/clear?kind=rotating')).status).toBe(204);
    await probe.stop(first.mf);
    probe.server.resetStats();

    // Three deploys (or evictions): brand-new isolates, same Durable Object storage, same env.
    const replies = [];
    for (let deploy = 0; deploy < 3; deploy++) {
      const next = await probe.start({ instances: 2, persist: dir, bindings });
      for (const name of next.names) replies.push(await probe.get(next.mf, name, '/rotating'));
      await probe.stop(next.mf);
    }
    expect(replies.map((reply) => reply.error)).not.toContain(undefined);
    expect({ spentRefreshTokenSends: probe.server.stats.refreshTokenReuse }).toEqual({ spentRefreshTokenSends: expect.toBeOneOf([0, 1]) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
