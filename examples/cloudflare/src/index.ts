import { clientCredentials, createSession, isSessionError, type Session } from 'shared-session';
import { durableObjectSharing } from 'shared-session/cloudflare';

// The runtime instantiates the coordinator from the main module's exports (see wrangler.toml).
export { TokenCoordinator } from 'shared-session/cloudflare';

export interface Env {
  TOKEN_COORDINATOR: DurableObjectNamespace;
  TOKEN_URL: string;
  API_ORIGIN: string;
  CLIENT_ID: string;
  /** A secret: `wrangler secret put CLIENT_SECRET`. It stays in this Worker; the Durable Object never sees it. */
  CLIENT_SECRET: string;
}

// One session per isolate, created on the first request (env is only known then). Between requests it keeps the
// token in memory and checks expiry on every read; the coordinator is asked only when the token must change.
let session: Session | undefined;

function sessionFor(env: Env): Session {
  return (session ??= createSession({
    provider: clientCredentials({ tokenUrl: env.TOKEN_URL, clientId: env.CLIENT_ID, clientSecret: env.CLIENT_SECRET }),
    sharing: durableObjectSharing(env.TOKEN_COORDINATOR),
  }));
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    const session = sessionFor(env);
    if (url.pathname === '/sign-out' && request.method === 'POST') {
      await session.clear();
      return new Response(null, { status: 204 });
    }
    if (!url.pathname.startsWith('/api/')) return new Response('Not found', { status: 404 });

    const target = new URL(url.pathname + url.search, env.API_ORIGIN);
    const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.arrayBuffer();
    const forward = async (rejected?: string): Promise<Response> => {
      const token = await session.getToken(rejected === undefined ? {} : { rejected });
      const headers = new Headers(request.headers);
      headers.set('authorization', `${token.tokenType} ${token.accessToken}`);
      const response = await fetch(target, { method: request.method, headers, body });
      // Revoked early: report that token (every isolate shares one refresh) and try once more.
      if (response.status !== 401 || rejected !== undefined) return response;
      await response.body?.cancel();
      return forward(token.accessToken);
    };

    try {
      return await forward();
    } catch (error) {
      if (!isSessionError(error)) throw error;
      // The code is stable and safe to show; messages never carry a secret or a token.
      if (error.code === 'rate_limited' && error.retryAfter !== undefined) {
        // The token endpoint's Retry-After, as the coordinator remembers it for every isolate: pass it on.
        const retryAfter = String(Math.ceil(error.retryAfter / 1000));
        return Response.json({ error: error.code }, { status: 429, headers: { 'retry-after': retryAfter } });
      }
      return Response.json({ error: error.code }, { status: error.code === 'timeout' ? 504 : 502 });
    }
  },
} satisfies ExportedHandler<Env>;
