import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import Provider from 'oidc-provider';

/**
 * The servers of the DPoP tests (RFC 9449), on 127.0.0.1 at random ports: panva's `oidc-provider` 9 with DPoP
 * enabled and **required** for its confidential client (`dpop_bound_access_tokens`), nonces on, the client
 * credentials grant; and a protected API that validates every proof strictly with jose — signature with the embedded
 * key, `typ`, `htm`, `htu`, `iat` window, `jti` never seen before, `ath` of the token, its own nonce, and the token's
 * `cnf.jkt` (the provider's record of the token) equal to the proof key's thumbprint.
 */
export interface DPoPServers {
  readonly tokenUrl: string;
  readonly apiUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** What the provider's token endpoint and the API saw. */
  readonly counts: DPoPCounts;
  /** Every refusal, in order, with its reason (never a token value). */
  readonly refusals: string[];
  /** Whether the provider requires a nonce in token request proofs (default true). */
  providerNonce: boolean;
  /** Whether the API requires its own nonce (default true). */
  apiNonce: boolean;
  /** Makes the API's current nonce stale: the next proof with the old one is challenged. */
  rotateApiNonce(): void;
  /** The `jkt` the provider bound a live access token to, undefined for an unknown or expired one. */
  boundKey(accessToken: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface DPoPCounts {
  /** POSTs to the token endpoint, and those answered 200. */
  tokenRequests: number;
  tokensIssued: number;
  /** Token requests answered `use_dpop_nonce`. */
  tokenNonceChallenges: number;
  /** Token requests that came without a `DPoP` header. */
  tokenRequestsWithoutProof: number;
  /** API calls, those accepted, those answered with a nonce challenge, those refused otherwise. */
  apiCalls: number;
  apiAccepted: number;
  apiNonceChallenges: number;
  apiRefused: number;
  /** `jti` values presented twice anywhere (token endpoint or API): must stay 0 for an honest client. */
  replayedJti: number;
}

export interface DPoPServersOptions {
  /** Access token lifetime (s). Default 300. */
  readonly accessTokenTtl?: number;
  /** Whether the client must use DPoP (`dpop_bound_access_tokens`). Default true. */
  readonly requireDPoP?: boolean;
}

export async function startDPoPServers(options: DPoPServersOptions = {}): Promise<DPoPServers> {
  const providerServer = await listen();
  const issuer = `http://127.0.0.1:${(providerServer.address() as AddressInfo).port}`;
  const apiServer = await listen();
  const apiUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}/api`;
  const clientId = 'dpop-service';
  const clientSecret = randomBytes(24).toString('base64url');
  const counts: DPoPCounts = {
    tokenRequests: 0,
    tokensIssued: 0,
    tokenNonceChallenges: 0,
    tokenRequestsWithoutProof: 0,
    apiCalls: 0,
    apiAccepted: 0,
    apiNonceChallenges: 0,
    apiRefused: 0,
    replayedJti: 0,
  };
  const refusals: string[] = [];
  const seenJti = new Set<string>();
  const noteJti = (proof: string | undefined): void => {
    if (proof === undefined) return;
    try {
      const jti = JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString()).jti as unknown;
      if (typeof jti !== 'string') return;
      if (seenJti.has(jti)) counts.replayedJti++;
      seenJti.add(jti);
    } catch {
      // Not a JWT: the server refuses it anyway.
    }
  };
  const state = { providerNonce: true, apiNonce: true, apiNonceValue: randomBytes(12).toString('base64url') };

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        dpop_bound_access_tokens: options.requireDPoP ?? true,
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'dpop-test', alg: 'RS256', use: 'sig' }] },
    scopes: ['api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => state.providerNonce, allowReplay: false },
    },
    ttl: { ClientCredentials: () => options.accessTokenTtl ?? 300 },
  });
  provider.use(async (ctx: ProviderContext, next: () => Promise<void>) => {
    const isToken = ctx.path === '/token' && ctx.method === 'POST';
    const proof = isToken ? ctx.get('dpop') : '';
    if (isToken) {
      counts.tokenRequests++;
      if (proof === '') counts.tokenRequestsWithoutProof++;
      noteJti(proof === '' ? undefined : proof);
    }
    await next();
    if (!isToken) return;
    const body = ctx.body as { error?: string; error_description?: string } | undefined;
    if (ctx.status === 200) counts.tokensIssued++;
    else if (body?.error === 'use_dpop_nonce') counts.tokenNonceChallenges++;
    else refusals.push(`provider: ${body?.error ?? ctx.status}: ${body?.error_description ?? ''}`);
  });
  const callback = provider.callback();
  providerServer.on('request', (req, res) => callback(req, res));

  /** The provider's record of a client credentials token: its `jkt`, if live. */
  const boundKey = async (accessToken: string): Promise<string | undefined> => {
    const token = (await provider.ClientCredentials.find(accessToken)) as { jkt?: string; isExpired?: boolean } | undefined;
    return token === undefined || token.isExpired === true ? undefined : token.jkt;
  };

  apiServer.on('request', (req, res) => {
    counts.apiCalls++;
    void checkApiRequest(req)
      .then(() => {
        counts.apiAccepted++;
        res.writeHead(200, { 'content-type': 'application/json', 'dpop-nonce': state.apiNonceValue }).end('{"ok":true}');
      })
      .catch((error: unknown) => {
        if (error instanceof NonceChallenge) {
          counts.apiNonceChallenges++;
          res
            .writeHead(401, {
              'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
              'dpop-nonce': state.apiNonceValue,
            })
            .end();
          return;
        }
        counts.apiRefused++;
        refusals.push(`api: ${(error as Error).message}`);
        res.writeHead(401, { 'www-authenticate': `DPoP error="invalid_token", algs="ES256 ES384 PS256 RS256 EdDSA"` }).end();
      });
  });

  async function checkApiRequest(req: IncomingMessage): Promise<void> {
    const authorization = req.headers.authorization ?? '';
    const match = /^DPoP ([\w.~+/-]+=*)$/.exec(authorization);
    if (match === null) throw new Error(`not a DPoP authorization (${authorization.split(' ')[0] ?? 'none'})`);
    const accessToken = match[1]!;
    const proofs = req.headers.dpop;
    if (typeof proofs !== 'string' || proofs === '') throw new Error('no DPoP proof');
    const header = decodeProtectedHeader(proofs);
    if (header.typ !== 'dpop+jwt') throw new Error('proof typ is not dpop+jwt');
    const { payload } = await jwtVerify(proofs, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'] });
    if (payload.htm !== req.method) throw new Error(`htm ${String(payload.htm)} is not ${req.method}`);
    const target = new URL(req.url ?? '/', apiUrl);
    if (payload.htu !== `${target.origin}${target.pathname}`) throw new Error('htu does not match the request');
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > 60) throw new Error('iat outside the 60 s window');
    if (typeof payload.jti !== 'string' || payload.jti.length < 16) throw new Error('no jti');
    if (seenJti.has(payload.jti)) {
      counts.replayedJti++;
      throw new Error('jti replayed');
    }
    seenJti.add(payload.jti);
    if (payload.ath !== createHash('sha256').update(accessToken).digest('base64url')) throw new Error('ath does not match the token');
    const jkt = await boundKey(accessToken);
    if (jkt === undefined) throw new Error('not a live access token');
    if (jkt !== (await calculateJwkThumbprint(header.jwk as JWK, 'sha256'))) throw new Error('cnf.jkt is not the proof key');
    if (state.apiNonce && payload.nonce !== state.apiNonceValue) throw new NonceChallenge();
  }

  return {
    tokenUrl: `${issuer}/token`,
    apiUrl,
    clientId,
    clientSecret,
    counts,
    refusals,
    get providerNonce() {
      return state.providerNonce;
    },
    set providerNonce(value) {
      state.providerNonce = value;
    },
    get apiNonce() {
      return state.apiNonce;
    },
    set apiNonce(value) {
      state.apiNonce = value;
    },
    rotateApiNonce() {
      state.apiNonceValue = randomBytes(12).toString('base64url');
    },
    boundKey,
    async close() {
      await Promise.all([close(providerServer), close(apiServer)]);
    },
  };
}

class NonceChallenge extends Error {}

interface ProviderContext {
  readonly path: string;
  readonly method: string;
  readonly status: number;
  readonly body: unknown;
  get(header: string): string;
}

async function listen(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export type { ServerResponse };
