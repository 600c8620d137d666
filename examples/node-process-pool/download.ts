// One process of the pool: its own session object, but one token for every process of this user on this machine.
import { clientCredentials, createSession } from 'shared-session';
import { localSharing } from 'shared-session/node';

const session = createSession({
  provider: clientCredentials({
    tokenUrl: process.env.TOKEN_URL ?? '',
    clientId: process.env.CLIENT_ID ?? '',
    clientSecret: process.env.CLIENT_SECRET ?? '',
  }),
  sharing: localSharing(), // whichever process asks first fetches; the others get its token over a Unix socket
});

let bytes = 0;
for (const tile of process.argv.slice(2)) {
  const { tokenType, accessToken } = await session.getToken(); // fresh: refreshed ahead of expiry, once for all
  const response = await fetch(new URL(tile, process.env.TILES_URL), { headers: { authorization: `${tokenType} ${accessToken}` } });
  if (!response.ok) throw new Error(`${tile}: HTTP ${response.status}`);
  bytes += (await response.arrayBuffer()).byteLength;
}
process.send?.(bytes);
await session.close();
