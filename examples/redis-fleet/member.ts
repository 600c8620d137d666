// One member of a fleet (a server, a pod): start as many as you like, on any machine that reaches the Redis server.
// Run: REDIS_URL=redis://… TOKEN_URL=… CLIENT_ID=… CLIENT_SECRET=… API_URL=… npx tsx member.ts
import { clientCredentials, createSession } from 'shared-session';
import { redisSharing } from 'shared-session/redis';
import { createClient } from 'redis';

const client = await createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }).connect();
const session = createSession({
  provider: clientCredentials({
    tokenUrl: process.env.TOKEN_URL ?? '',
    clientId: process.env.CLIENT_ID ?? '',
    clientSecret: process.env.CLIENT_SECRET ?? '',
  }),
  sharing: redisSharing({ client }), // one token request per token lifetime for the whole fleet
});

const calls = Number(process.env.CALLS ?? 20);
let ok = 0;
for (let call = 0; call < calls; call++) {
  const { tokenType, accessToken } = await session.getToken();
  const response = await fetch(process.env.API_URL ?? '', { headers: { authorization: `${tokenType} ${accessToken}` } });
  if (response.ok) ok++;
}
console.log(JSON.stringify({ calls, ok }));
await session.close();
await client.quit(); // the client is yours: the session never closes it
