import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';

/**
 * An OpenID provider on 127.0.0.1 that misbehaves on demand, for the RP conformance suite. Every case has an issuer
 * of its own (`<origin>/<case>`), so that discovery, credentials and counters of two cases never meet (the session
 * caches discovery per issuer, and keys its credential by issuer), and cases can run side by side in one browser.
 * A case is one `Defect`: a few hooks that bend one answer. Without a defect it behaves as a correct provider of a
 * public client: authorization code with PKCE S256 (verified), refresh-token rotation on every use with reuse
 * detection (a spent refresh token is counted and revokes the grant), revocation, RP-initiated logout, RFC 9207 `iss`.
 * Plain `node:http` and `jose`: a certified provider would refuse to misbehave.
 */
export interface MisbehavingProvider {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** The issuer of a case: `<origin>/<caseId>`. */
  issuer(caseId: string): string;
  /** Sets the case's defect (and forgets its earlier state). */
  configure(caseId: string, defect?: Defect): void;
  counts(caseId: string): CaseCounts;
  close(): Promise<void>;
}

/** What the ID token of an answer is, before a defect bends it. */
export interface IdTokenParts {
  header: JWTHeaderParameters & Record<string, unknown>;
  claims: JWTPayload & Record<string, unknown>;
  /** How it is signed: with the current key (default), another key than its `kid` says, `none`, an HMAC… */
  signing?: 'current' | 'unpublished-key' | 'bad-signature' | 'none' | 'hs256-client-id' | 'previous-key';
}

export interface TokenAnswer {
  status: number;
  /** A JSON value, or a string sent as it is. */
  body: unknown;
  contentType?: string;
}

/** One case's misbehaviour. Each hook gets the correct answer and returns the one to send. */
export interface Defect {
  /** The discovery document; `'stall'` accepts the connection and never answers. */
  discovery?: (document: Record<string, unknown>, issuer: string) => Record<string, unknown> | 'stall' | TokenAnswer;
  /** The authorization response's parameters (code, state, iss), before they are put into the redirect. */
  authorize?: (response: URLSearchParams, request: URLSearchParams) => URLSearchParams;
  /** The ID token of the code exchange. */
  idToken?: (parts: IdTokenParts) => IdTokenParts | string | undefined;
  /** The code exchange's token response (after the ID token is made). */
  token?: (answer: TokenAnswer) => TokenAnswer;
  /** The ID token of a refresh; undefined sends none. */
  refreshIdToken?: (parts: IdTokenParts) => IdTokenParts | string | undefined;
  /** The refresh's token response. The refresh token is spent once the answer is 2xx, whatever the hook did. */
  refresh?: (answer: TokenAnswer, sent: string) => TokenAnswer;
  /** The revocation endpoint's answer (default 200); the token is revoked only on a 200. */
  revoke?: () => TokenAnswer;
  /** Rotate the refresh token on each refresh (default true). */
  rotate?: boolean;
  /** Sign ID tokens from the case's second sign-in on with a new key (published from then on). */
  rotateKeysAfterFirstSignIn?: boolean;
  /** Publish two keys in the JWKS (the second one unused). */
  publishTwoKeys?: boolean;
}

export interface CaseCounts {
  discoveries: number;
  authorizations: number;
  codeExchanges: number;
  /** Code exchanges refused: unknown code, replayed code, or a code verifier that does not match. */
  failedCodeExchanges: number;
  refreshRequests: number;
  /** Refresh requests with a refresh token already exchanged (each would revoke a real provider's grant). */
  reusedRefreshTokens: number;
  revocations: number;
  endSessions: number;
  /** The authorization requests' parameters, in order. */
  authorizeRequests: Record<string, string>[];
  /** The authorization responses, as the redirect URLs sent to the browser. */
  callbacks: string[];
  /** The end-session requests' parameters, in order. */
  endSessionRequests: Record<string, string>[];
  /** Access tokens issued, in order (for "never handed out" checks). */
  accessTokens: string[];
}

export const CLIENT_ID = 'conformance-rp';
export const SUBJECT = 'alice';
/** Lifetime of the access tokens the provider issues (s), unless a defect says otherwise. */
export const ACCESS_TOKEN_TTL = 300;

interface Grant {
  sub: string;
  authTime: number;
  nonce: string | undefined;
  live: boolean;
}

interface CaseState {
  defect: Defect;
  counts: CaseCounts;
  codes: Map<string, { challenge: string; nonce: string | undefined; redirectUri: string; used: boolean }>;
  /** Refresh tokens issued: `live` until exchanged (rotation) or revoked. */
  refreshTokens: Map<string, { grant: Grant; spent: boolean }>;
  signIns: number;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export async function startMisbehavingProvider(): Promise<MisbehavingProvider> {
  const [first, second, stray] = await Promise.all([signingKey('key-1'), signingKey('key-2'), signingKey('unpublished')]);
  const cases = new Map<string, CaseState>();
  const stalled = new Set<ServerResponse>();
  let origin = '';

  const state = (caseId: string): CaseState => {
    let found = cases.get(caseId);
    if (found === undefined) {
      found = { defect: {}, counts: freshCounts(), codes: new Map(), refreshTokens: new Map(), signIns: 0 };
      cases.set(caseId, found);
    }
    return found;
  };
  /** The key that signs now, and the published set: after a rotation the new key signs and both are published. */
  const keysOf = (current: CaseState): { signer: SigningKey; published: SigningKey[] } =>
    current.defect.rotateKeysAfterFirstSignIn === true && current.signIns > 1
      ? { signer: second, published: [first, second] }
      : { signer: first, published: current.defect.publishTwoKeys === true ? [first, second] : [first] };

  const idToken = async (current: CaseState, parts: IdTokenParts, bend: Defect['idToken']): Promise<string | undefined> => {
    const bent = bend === undefined ? parts : bend(parts);
    if (bent === undefined || typeof bent === 'string') return bent;
    const { signer } = keysOf(current);
    const { header, claims, signing = 'current' } = bent;
    if (signing === 'none') {
      const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${encode({ ...header, alg: 'none', kid: undefined })}.${encode(claims)}.`;
    }
    if (signing === 'hs256-client-id') {
      return new SignJWT(claims).setProtectedHeader({ ...header, alg: 'HS256' }).sign(new TextEncoder().encode(CLIENT_ID));
    }
    const key = signing === 'unpublished-key' ? stray : signing === 'previous-key' ? first : signer;
    // jose refuses to sign with a `crit` it does not know unless told that it is understood.
    const crit = Object.fromEntries((header.crit ?? []).map((name) => [name, true]));
    const jwt = await new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey, { crit });
    if (signing !== 'bad-signature') return jwt;
    // One bit of the signature flipped.
    const [head, body, signature] = jwt.split('.') as [string, string, string];
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0] = bytes[0]! ^ 1;
    return `${head}.${body}.${bytes.toString('base64url')}`;
  };

  const idTokenParts = (current: CaseState, issuer: string, grant: Grant, nonce: string | undefined): IdTokenParts => {
    const now = Math.floor(Date.now() / 1000);
    return {
      header: { alg: 'RS256', typ: 'JWT', kid: keysOf(current).signer.kid },
      claims: {
        iss: issuer,
        sub: grant.sub,
        aud: CLIENT_ID,
        exp: now + 600,
        iat: now,
        auth_time: grant.authTime,
        ...(nonce !== undefined && { nonce }),
        name: 'Alice Example',
        email: 'alice@example.test',
      },
    };
  };

  const issueRefreshToken = (current: CaseState, grant: Grant): string => {
    const token = `rt-${randomBytes(16).toString('base64url')}`;
    current.refreshTokens.set(token, { grant, spent: false });
    return token;
  };

  const accessToken = (current: CaseState): string => {
    const token = `at-${randomBytes(16).toString('base64url')}`;
    current.counts.accessTokens.push(token);
    return token;
  };

  const send = (res: ServerResponse, answer: TokenAnswer): void => {
    const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json', 'cache-control': 'no-store', ...CORS }).end(body);
  };
  const oauthError = (res: ServerResponse, status: number, error: string): void => send(res, { status, body: { error } });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', origin);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'access-control-allow-headers': '*', 'access-control-allow-methods': 'GET, POST' }).end();
      return;
    }
    const [, caseId = '', ...rest] = url.pathname.split('/');
    const route = rest.join('/');
    const current = state(caseId);
    const { defect, counts } = current;
    const issuer = `${origin}/${caseId}`;
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;

    if (route === '.well-known/openid-configuration') {
      counts.discoveries++;
      const document = discoveryDocument(issuer);
      const bent = defect.discovery === undefined ? document : defect.discovery(document, issuer);
      if (bent === 'stall') {
        stalled.add(res);
        res.on('close', () => stalled.delete(res));
        return;
      }
      send(res, 'status' in bent && 'body' in bent ? (bent as TokenAnswer) : { status: 200, body: bent });
      return;
    }
    if (route === 'jwks') {
      send(res, { status: 200, body: { keys: keysOf(current).published.map((key) => key.jwk) } });
      return;
    }
    if (route === 'authorize') {
      counts.authorizations++;
      counts.authorizeRequests.push(Object.fromEntries(form));
      const redirectUri = form.get('redirect_uri') ?? '';
      if (form.get('client_id') !== CLIENT_ID || !redirectUri.startsWith('http://127.0.0.1:')) {
        res.writeHead(400).end('bad client or redirect_uri');
        return;
      }
      const response = new URLSearchParams();
      if (form.get('response_type') !== 'code' || form.get('code_challenge_method') !== 'S256' || !form.get('code_challenge')) {
        response.set('error', 'invalid_request');
      } else {
        const code = `code-${randomBytes(16).toString('base64url')}`;
        current.codes.set(code, { challenge: form.get('code_challenge')!, nonce: form.get('nonce') ?? undefined, redirectUri, used: false });
        response.set('code', code);
      }
      if (form.has('state')) response.set('state', form.get('state')!);
      response.set('iss', issuer);
      const bent = defect.authorize === undefined ? response : defect.authorize(response, form);
      const target = new URL(redirectUri);
      for (const [name, value] of bent) target.searchParams.append(name, value);
      counts.callbacks.push(target.href);
      res.writeHead(302, { location: target.href, 'cache-control': 'no-store' }).end();
      return;
    }
    if (route === 'token' && req.method === 'POST') {
      if (form.get('client_id') !== CLIENT_ID) return oauthError(res, 401, 'invalid_client');
      if (form.get('grant_type') === 'authorization_code') {
        const code = current.codes.get(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        const challenge = createHash('sha256').update(verifier).digest('base64url');
        if (code === undefined || code.used || code.challenge !== challenge || code.redirectUri !== form.get('redirect_uri')) {
          if (code !== undefined) code.used = true;
          counts.failedCodeExchanges++;
          return oauthError(res, 400, 'invalid_grant');
        }
        code.used = true;
        counts.codeExchanges++;
        current.signIns++;
        const grant: Grant = { sub: SUBJECT, authTime: Math.floor(Date.now() / 1000) - 5, nonce: code.nonce, live: true };
        const id = await idToken(current, idTokenParts(current, issuer, grant, code.nonce), defect.idToken);
        const answer: TokenAnswer = {
          status: 200,
          body: {
            access_token: accessToken(current),
            token_type: 'Bearer',
            expires_in: ACCESS_TOKEN_TTL,
            refresh_token: issueRefreshToken(current, grant),
            scope: 'openid offline_access',
            ...(id !== undefined && { id_token: id }),
          },
        };
        return send(res, defect.token === undefined ? answer : defect.token(answer));
      }
      if (form.get('grant_type') === 'refresh_token') {
        counts.refreshRequests++;
        const sent = form.get('refresh_token') ?? '';
        const known = current.refreshTokens.get(sent);
        if (known === undefined) return oauthError(res, 400, 'invalid_grant');
        if (known.spent) {
          // Reuse detected: the whole grant goes, as RFC 9700 §4.14.2 has a provider do.
          counts.reusedRefreshTokens++;
          known.grant.live = false;
          return oauthError(res, 400, 'invalid_grant');
        }
        if (!known.grant.live) return oauthError(res, 400, 'invalid_grant');
        const rotate = defect.rotate ?? true;
        if (rotate) known.spent = true;
        const id = await idToken(current, idTokenParts(current, issuer, known.grant, undefined), defect.refreshIdToken);
        const answer: TokenAnswer = {
          status: 200,
          body: {
            access_token: accessToken(current),
            token_type: 'Bearer',
            expires_in: ACCESS_TOKEN_TTL,
            refresh_token: rotate ? issueRefreshToken(current, known.grant) : sent,
            scope: 'openid offline_access',
            ...(id !== undefined && { id_token: id }),
          },
        };
        const bent = defect.refresh === undefined ? answer : defect.refresh(answer, sent);
        // A 2xx answer means the provider processed the request: the sent token is spent whatever the body says.
        if (rotate && bent.status >= 200 && bent.status < 300) known.spent = true;
        else if (bent.status >= 300) known.spent = false;
        return send(res, bent);
      }
      return oauthError(res, 400, 'unsupported_grant_type');
    }
    if (route === 'revoke' && req.method === 'POST') {
      counts.revocations++;
      const answer = defect.revoke?.() ?? { status: 200, body: '' };
      const known = current.refreshTokens.get(form.get('token') ?? '');
      if (known !== undefined && answer.status === 200) known.grant.live = false;
      return send(res, answer);
    }
    if (route === 'end_session') {
      counts.endSessions++;
      counts.endSessionRequests.push(Object.fromEntries(form));
      const target = form.get('post_logout_redirect_uri');
      if (target !== null && target.startsWith('http://127.0.0.1:')) res.writeHead(302, { location: target }).end();
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>signed out</title>');
      return;
    }
    res.writeHead(404, CORS).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    issuer: (caseId) => `${origin}/${caseId}`,
    configure(caseId, defect = {}) {
      cases.set(caseId, { defect, counts: freshCounts(), codes: new Map(), refreshTokens: new Map(), signIns: 0 });
    },
    counts: (caseId) => state(caseId).counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of stalled) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const CORS = { 'access-control-allow-origin': '*' };

function freshCounts(): CaseCounts {
  return {
    discoveries: 0,
    authorizations: 0,
    codeExchanges: 0,
    failedCodeExchanges: 0,
    refreshRequests: 0,
    reusedRefreshTokens: 0,
    revocations: 0,
    endSessions: 0,
    authorizeRequests: [],
    callbacks: [],
    endSessionRequests: [],
    accessTokens: [],
  };
}

function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    revocation_endpoint: `${issuer}/revoke`,
    end_session_endpoint: `${issuer}/end_session`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    scopes_supported: ['openid', 'offline_access', 'profile', 'email'],
    authorization_response_iss_parameter_supported: true,
  };
}
