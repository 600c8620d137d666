// One process of the pool: downloads its share of the tiles with the job's one token.
import { openSession } from './session.js';

const session = openSession();
let bytes = 0;
for (const tile of process.argv.slice(2)) {
  const { tokenType, accessToken } = await session.getToken(); // fresh: refreshed ahead of expiry, once for all
  const response = await fetch(new URL(tile, process.env.TILES_URL), { headers: { authorization: `${tokenType} ${accessToken}` } });
  if (!response.ok) throw new Error(`${tile}: HTTP ${response.status}`);
  bytes += (await response.arrayBuffer()).byteLength;
}
process.send?.(bytes);
await session.close();
