// One Deno process of the localSharing test: a session on `localSharing({ dir })` from the packed package, a burst
// of getToken, then (with `hold`) staying alive so that the others find its socket. Prints `RESULT <json>`.
//
// With `together` the processes report who leads at one moment when all of them are alive: each waits (through files
// in `together.dir`) until all `together.count` have their tokens, reads `isLeader`, and closes only once all have
// read it. Without it, a process that reads later than a leader that closed sees itself leading legitimately: the
// closing leader hands its socket over to one of its clients.
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { clientCredentials, createSession } from 'shared-session';
import { localSharing } from 'shared-session/node';

interface Config {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  dir: string;
  hold: number;
  together?: { dir: string; count: number };
}

const configText = process.argv[2];
const config = JSON.parse(configText!) as Config;
const errors: string[] = [];
const session = createSession({
  provider: clientCredentials({ tokenUrl: config.tokenUrl, clientId: config.clientId, clientSecret: config.clientSecret }),
  sharing: localSharing({ dir: config.dir }),
});
session.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
const tokens = await Promise.all(Array.from({ length: 20 }, () => session.getToken().then((token) => token.accessToken)));
// Held open so that the processes overlap: the ones that start later connect to this one's socket.
await new Promise((resolve) => setTimeout(resolve, config.hold));
let leading = session.isLeader;
if (config.together !== undefined) {
  await arrive(config.together, 'ready');
  leading = session.isLeader;
  await arrive(config.together, 'read');
}
process.stdout.write(`RESULT ${JSON.stringify({ tokens: [...new Set(tokens)], leading, errors })}\n`);
await session.close();

/** Marks this process at `stage` and waits (30 s at most) until every process has. */
async function arrive(together: { dir: string; count: number }, stage: string): Promise<void> {
  writeFileSync(path.join(together.dir, `${process.pid}.${stage}`), '');
  const deadline = Date.now() + 30_000;
  while (readdirSync(together.dir).filter((name) => name.endsWith(`.${stage}`)).length < together.count) {
    if (Date.now() > deadline) throw new Error(`not every process reached ${stage} in 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
