import { isSessionError } from 'shared-session';
import { durableObjectSharing } from 'shared-session/cloudflare';
import { earthEngine, googleServiceAccount, type EarthEngine, type EarthEngineExpression, type VisParams } from 'shared-session/earth-engine';

// The runtime instantiates the coordinator from the main module's exports (see wrangler.toml).
export { TokenCoordinator } from 'shared-session/cloudflare';

export interface Env {
  TOKEN_COORDINATOR: DurableObjectNamespace;
  /** The Google Cloud project the calls run in and are billed to. */
  EE_PROJECT: string;
  /** The Earth Engine REST root. */
  EE_API: string;
  /**
   * A secret: the service account's JSON key file (`wrangler secret put EE_SERVICE_ACCOUNT_KEY < key.json`). The
   * private key in it is imported once per isolate as a non-extractable CryptoKey; it is never stored or sent.
   */
  EE_SERVICE_ACCOUNT_KEY: string;
}

const SCOPES = ['https://www.googleapis.com/auth/earthengine'];

// One Earth Engine session per isolate, created on the first request (env is only known then). Its token is kept in
// memory between requests; the coordinator is asked only when it must change, and the isolate that gets the lease
// signs the assertion and calls Google itself.
let ee: EarthEngine | undefined;

function earthEngineFor(env: Env): EarthEngine {
  return (ee ??= earthEngine({
    provider: googleServiceAccount({ key: env.EE_SERVICE_ACCOUNT_KEY, scopes: SCOPES }),
    project: env.EE_PROJECT,
    baseUrl: env.EE_API,
    sharing: durableObjectSharing(env.TOKEN_COORDINATOR),
  }));
}

const TILE = /^\/tiles\/(projects\/[^/]+\/maps\/[^/]+)\/(\d+)\/(\d+)\/(\d+)$/;

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    try {
      const client = earthEngineFor(env);
      // POST /value with a Cloud API expression (ee.Serializer.encodeCloudApi(obj)): its computed value.
      if (url.pathname === '/value' && request.method === 'POST') {
        return Response.json({ value: await client.operations.getInfo(await request.text()) });
      }
      // POST /map with { image, visParams }: a map id, and this Worker's tile URL template for it.
      if (url.pathname === '/map' && request.method === 'POST') {
        const { image, visParams } = await request.json<{ image: EarthEngineExpression; visParams?: VisParams }>();
        const map = await client.operations.getMapId(image, visParams);
        return Response.json({ name: map.name, tileUrl: `${url.origin}/tiles/${map.name}/{z}/{x}/{y}` });
      }
      // GET /tiles/projects/…/maps/…/{z}/{x}/{y}: the tile, fetched with the token (a 401 refreshes it once).
      const tile = TILE.exec(url.pathname);
      if (tile !== null && request.method === 'GET') {
        const [, name, z, x, y] = tile;
        const response = await client.client.get(`${name}/tiles/${z}/${x}/${y}`, { throwHttpErrors: false });
        return new Response(response.body, {
          status: response.status,
          headers: { 'content-type': response.headers.get('content-type') ?? 'image/png', 'cache-control': 'private, max-age=300' },
        });
      }
      return new Response('Not found', { status: 404 });
    } catch (error) {
      if (!isSessionError(error)) throw error;
      // The code is stable and safe to show; messages never carry the key or a token.
      const status = error.code === 'api_error' ? (error.status ?? 502) : error.code === 'invalid_credentials' ? 500 : 502;
      return Response.json({ error: error.code, status: error.apiStatus ?? error.oauthError }, { status });
    }
  },
} satisfies ExportedHandler<Env>;
