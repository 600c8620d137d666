/**
 * A Deno Deploy app that calls an OAuth2-protected API with one token for all its isolates and regions.
 *
 *   deno run --unstable-kv --allow-net --allow-env main.ts      (locally: KV in a SQLite file)
 *   deployctl deploy --prod main.ts                             (Deno Deploy: KV built in)
 *
 * Set TOKEN_URL, CLIENT_ID, CLIENT_SECRET and API_URL in the project's environment variables.
 */
import { clientCredentials, createSession } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';

const kv = await Deno.openKv();

// Module scope: one session per isolate, shared with every other isolate through KV.
const session = createSession({
  provider: clientCredentials({
    tokenUrl: Deno.env.get('TOKEN_URL') ?? 'https://auth.example.com/oauth/token',
    clientId: Deno.env.get('CLIENT_ID') ?? '',
    clientSecret: Deno.env.get('CLIENT_SECRET') ?? '',
  }),
  sharing: denoKvSharing({ kv, prefix: ['my-app'] }),
});

const apiUrl = Deno.env.get('API_URL') ?? 'https://api.example.com/';

Deno.serve(async (request) => {
  if (new URL(request.url).pathname === '/sign-out') {
    await session.clear(); // every isolate drops the token within a poll interval
    return new Response('signed out\n');
  }
  const { accessToken } = await session.getToken();
  const response = await fetch(apiUrl, { headers: { authorization: `Bearer ${accessToken}` } });
  return new Response(response.body, { status: response.status, headers: { 'content-type': response.headers.get('content-type') ?? 'text/plain' } });
});
