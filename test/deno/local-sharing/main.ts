// One Deno process of the localSharing test: a session on `localSharing({ dir })` from the packed package, a burst
// of getToken, then (with `hold`) staying alive so that the others find its socket. Prints `RESULT <json>`.
import process from 'node:process';
import { clientCredentials, createSession } from 'shared-session';
import { localSharing } from 'shared-session/node';

const configText = process.argv[2];
const config = JSON.parse(configText!) as { tokenUrl: string; clientId: string; clientSecret: string; dir: string; hold: number };
const errors: string[] = [];
const session = createSession({
  provider: clientCredentials({ tokenUrl: config.tokenUrl, clientId: config.clientId, clientSecret: config.clientSecret }),
  sharing: localSharing({ dir: config.dir }),
});
session.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
const tokens = await Promise.all(Array.from({ length: 20 }, () => session.getToken().then((token) => token.accessToken)));
// Held open so that the processes overlap: the ones that start later connect to this one's socket.
await new Promise((resolve) => setTimeout(resolve, config.hold));
process.stdout.write(`RESULT ${JSON.stringify({ tokens: [...new Set(tokens)], leading: session.isLeader, errors })}\n`);
await session.close();
