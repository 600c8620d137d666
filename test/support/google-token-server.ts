import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { decodeJwt, decodeProtectedHeader, exportPKCS8, generateKeyPair, jwtVerify, type CryptoKey as JoseKey } from 'jose';

/*
 * A local stand-in for Google's OAuth 2.0 token endpoint as service accounts use it: the JWT bearer grant (RFC 7523
 * §2.1). Every assertion is verified independently of the code under test, with `jose`, against the public key of the
 * account it names (signature, `alg`, `kid`, `aud`, `iat`/`exp` at most an hour apart, a `jti` never seen before,
 * `scope`). Answers as Google does: `{access_token, expires_in: 3599, token_type: 'Bearer'}`, and
 * `400 {error: 'invalid_grant', error_description}` for an assertion it refuses.
 */

export interface ServiceAccount {
  readonly email: string;
  readonly keyId: string;
  /** The key file as `gcloud iam service-accounts keys create` writes it (pointing at this server). */
  readonly keyFile: {
    type: 'service_account';
    project_id: string;
    private_key_id: string;
    private_key: string;
    client_email: string;
    client_id: string;
    auth_uri: string;
    token_uri: string;
    auth_provider_x509_cert_url: string;
    client_x509_cert_url: string;
    universe_domain: string;
  };
  /** The PKCS#8 PEM of the private key (also in `keyFile`). */
  readonly privatePem: string;
}

export interface VerifiedAssertion {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
}

export interface GoogleTokenServer {
  readonly origin: string;
  /** `${origin}/token`. */
  readonly tokenUrl: string;
  /** Every token request, accepted or not, and every assertion that verified. */
  readonly stats: { requests: number; assertions: number; tokens: number; refused: string[] };
  readonly verified: VerifiedAssertion[];
  /** Latency of every answer (ms). */
  latency: number;
  /** Lifetime of issued tokens (s). Default 3599, as Google. */
  lifetime: number;
  /** Creates a service account with an RSA key pair generated now (jose), the public key kept by the server. */
  addAccount(name?: string): Promise<ServiceAccount>;
  /** The next `count` requests get this status (a 5xx or 429 the client retries). */
  failNext(count: number, status: number): void;
  isValid(accessToken: string): boolean;
  reset(): void;
  close(): Promise<void>;
}

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

function json(res: ServerResponse, status: number, body: unknown): void {
  // Any origin, as a browser page calling the endpoint needs (a form POST is a simple request: no preflight).
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' }).end(JSON.stringify(body));
}

export async function startGoogleTokenServer(): Promise<GoogleTokenServer> {
  const accounts = new Map<string, { keyId: string; publicKey: JoseKey }>();
  const seenJti = new Set<string>();
  const tokens = new Map<string, number>();
  const failures: number[] = [];
  const verified: VerifiedAssertion[] = [];
  const stats = { requests: 0, assertions: 0, tokens: 0, refused: [] as string[] };
  const state = { latency: 0, lifetime: 3599 };
  let origin = '';

  const refuse = (res: ServerResponse, description: string): void => {
    stats.refused.push(description);
    json(res, 400, { error: 'invalid_grant', error_description: description });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = await readBody(req);
    if (url.pathname !== '/token' || req.method !== 'POST') return json(res, 404, { error: 'not_found' });
    stats.requests++;
    if (state.latency > 0) await new Promise((resolve) => setTimeout(resolve, state.latency));
    const failure = failures.shift();
    if (failure !== undefined) return json(res, failure, { error: 'internal_failure' });
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return json(res, 400, { error: 'invalid_request', error_description: 'form body expected' });
    }
    const form = new URLSearchParams(text);
    if (form.get('grant_type') !== GRANT) {
      return json(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + String(form.get('grant_type')) });
    }
    const assertion = form.get('assertion') ?? '';
    let iss: unknown;
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      iss = decodeJwt(assertion).iss;
      header = decodeProtectedHeader(assertion);
    } catch {
      return refuse(res, 'Invalid JWT: the assertion is not a JWT.');
    }
    const account = typeof iss === 'string' ? accounts.get(iss) : undefined;
    if (account === undefined) return refuse(res, 'Invalid JWT: unknown issuer.');
    if (header.kid !== undefined && header.kid !== account.keyId) return refuse(res, 'Invalid JWT: No valid verifier found for issuer.');
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(assertion, account.publicKey, {
        algorithms: ['RS256'],
        audience: `${origin}/token`,
        issuer: iss as string,
        requiredClaims: ['iat', 'exp', 'jti', 'scope'],
        clockTolerance: 5,
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      return refuse(res, code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'Invalid JWT Signature.' : `Invalid JWT: ${code ?? 'unreadable'}`);
    }
    const { iat, exp, jti, scope } = claims as { iat: number; exp: number; jti: string; scope: unknown };
    if (exp - iat > 3600) return refuse(res, 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    if (seenJti.has(jti)) return refuse(res, 'Invalid JWT: jti replayed.');
    seenJti.add(jti);
    if (typeof scope !== 'string' || scope === '') return refuse(res, 'Invalid JWT: scope is required.');
    verified.push({ header: header as Record<string, unknown>, claims });
    stats.assertions++;
    stats.tokens++;
    const accessToken = `ya29.${randomBytes(24).toString('base64url')}`;
    tokens.set(accessToken, Date.now() + state.lifetime * 1000);
    json(res, 200, { access_token: accessToken, expires_in: state.lifetime, token_type: 'Bearer' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => json(res, 500, { error: 'internal', error_description: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    tokenUrl: `${origin}/token`,
    stats,
    verified,
    get latency() {
      return state.latency;
    },
    set latency(value) {
      state.latency = value;
    },
    get lifetime() {
      return state.lifetime;
    },
    set lifetime(value) {
      state.lifetime = value;
    },
    async addAccount(name = `ee-runner-${accounts.size + 1}`) {
      const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
      const privatePem = await exportPKCS8(privateKey);
      const email = `${name}@my-project.iam.gserviceaccount.com`;
      const keyId = randomBytes(20).toString('hex');
      accounts.set(email, { keyId, publicKey });
      return {
        email,
        keyId,
        privatePem,
        keyFile: {
          type: 'service_account',
          project_id: 'my-project',
          private_key_id: keyId,
          private_key: privatePem,
          client_email: email,
          client_id: String(100_000_000_000_000_000_000n + BigInt(accounts.size)),
          auth_uri: 'https://accounts.google.com/o/oauth2/auth',
          token_uri: `${origin}/token`,
          auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
          client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
          universe_domain: 'googleapis.com',
        },
      };
    },
    failNext(count, status) {
      for (let index = 0; index < count; index++) failures.push(status);
    },
    isValid(accessToken) {
      const expiresAt = tokens.get(accessToken);
      return expiresAt !== undefined && expiresAt > Date.now();
    },
    reset() {
      stats.requests = 0;
      stats.assertions = 0;
      stats.tokens = 0;
      stats.refused = [];
      verified.length = 0;
      failures.length = 0;
      state.latency = 0;
      state.lifetime = 3599;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
