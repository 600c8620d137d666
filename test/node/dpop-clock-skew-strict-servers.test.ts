import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, memorySharing, refreshTokenGrant, type Session } from '../../src/index.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';
import { clockOffsetOf } from '../../src/dpop/clock-offsets.js';

/**
 * DPoP proofs are dated by the clock of the server that checks them (src/dpop/clock-offsets.ts). A client whose clock
 * is 2 minutes ahead or behind, against servers that check `iat` strictly (±60 s, RFC 9449 §4.3 step 11) on their
 * own clock and tell it in `Date`: the token endpoint (client credentials and a refresh: a refused proof is sent once
 * more, dated by the refusal's `Date`, and spends nothing, not even a refresh token), and APIs (whether they refuse
 * with `invalid_dpop_proof` as RFC 9449 §7.1 says, or with `invalid_token`: the provider's offset dates their first
 * proof). A server whose `Date` is garbage or years off changes no other server's proofs and breaks nothing.
 */
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function body(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

/** Checks a proof as a strict server does, on the real clock; its key's thumbprint, or why it is refused. */
async function checkProof(
  req: IncomingMessage,
  origin: string,
  seen: Set<string>,
  accessToken?: string,
  now = Date.now(),
): Promise<{ jkt: string } | { refused: string }> {
  const proof = req.headers.dpop;
  if (typeof proof !== 'string') return { refused: 'no proof' };
  try {
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    if (payload.htm !== req.method || payload.htu !== `${origin}${new URL(req.url ?? '/', origin).pathname}`) return { refused: 'htm/htu' };
    const skew = Math.floor(now / 1000) - (payload.iat ?? 0);
    if (Math.abs(skew) > 60) return { refused: `iat ${skew} s off` };
    if (typeof payload.jti !== 'string' || seen.has(payload.jti)) return { refused: 'jti replayed' };
    seen.add(payload.jti);
    if (accessToken !== undefined && payload.ath !== createHash('sha256').update(accessToken).digest('base64url')) return { refused: 'ath' };
    return { jkt: await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK, 'sha256') };
  } catch (error) {
    return { refused: (error as Error).message };
  }
}

interface StrictServers {
  readonly tokenUrl: string;
  readonly apiUrl: (name: string) => string;
  readonly counts: { tokenRequests: number; tokensIssued: number; proofRefusals: number; refreshTokenReuse: number; apiAccepted: number; apiRefused: number };
  readonly refusals: string[];
  readonly firstRefreshToken: string;
}

/**
 * A token endpoint (client credentials, and refresh tokens rotated on use) and APIs, each on its own origin, each
 * checking `iat` within ±60 s. An API `invalid_token` refuses a bad proof as `invalid_token` (not RFC 9449 §7.1);
 * `hostile-garbage` and `hostile-years` answer with such a `Date`.
 */
async function startStrictServers(): Promise<StrictServers> {
  const counts = { tokenRequests: 0, tokensIssued: 0, proofRefusals: 0, refreshTokenReuse: 0, apiAccepted: 0, apiRefused: 0 };
  const refusals: string[] = [];
  const seen = new Set<string>();
  const tokens = new Map<string, string>(); // access token → jkt
  const liveRefreshTokens = new Set<string>();
  const spentRefreshTokens = new Set<string>();
  const firstRefreshToken = randomBytes(16).toString('base64url');
  liveRefreshTokens.add(firstRefreshToken);
  const provider = await listen((req, res) => {
    void (async () => {
      counts.tokenRequests++;
      const form = await body(req);
      const checked = await checkProof(req, provider, seen);
      const answer = (status: number, json: object): void => void res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(json));
      if ('refused' in checked) {
        counts.proofRefusals++;
        refusals.push(`token endpoint: ${checked.refused}`);
        return answer(400, { error: 'invalid_dpop_proof', error_description: checked.refused });
      }
      const reply: Record<string, unknown> = { token_type: 'DPoP', expires_in: 300 };
      if (form.get('grant_type') === 'refresh_token') {
        const sent = form.get('refresh_token') ?? '';
        if (spentRefreshTokens.has(sent)) counts.refreshTokenReuse++;
        if (!liveRefreshTokens.delete(sent)) return answer(400, { error: 'invalid_grant' });
        spentRefreshTokens.add(sent);
        const next = randomBytes(16).toString('base64url');
        liveRefreshTokens.add(next);
        reply.refresh_token = next;
      }
      const accessToken = randomBytes(16).toString('base64url');
      tokens.set(accessToken, checked.jkt);
      counts.tokensIssued++;
      answer(200, { ...reply, access_token: accessToken });
    })();
  });
  const apis = new Map<string, string>();
  for (const name of ['rfc', 'invalid_token', 'rfc-ahead', 'hostile-garbage', 'hostile-years']) {
    // `rfc-ahead`'s clock is 2 minutes ahead of the others' (it checks and tells that time).
    const serverClock = (): number => Date.now() + (name === 'rfc-ahead' ? 120_000 : 0);
    const origin: string = await listen((req, res) => {
      void (async () => {
        const accessToken = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        const checked = await checkProof(req, origin, seen, accessToken, serverClock());
        const date =
          name === 'hostile-garbage'
            ? 'not a date at all'
            : name === 'hostile-years'
              ? new Date(Date.now() + 3 * 365 * 86_400_000).toUTCString()
              : new Date(serverClock()).toUTCString();
        const headers: Record<string, string> = { date };
        if ('refused' in checked || accessToken === undefined || tokens.get(accessToken) !== checked.jkt) {
          counts.apiRefused++;
          refusals.push(`${name}: ${'refused' in checked ? checked.refused : 'token'}`);
          const error = 'refused' in checked && name !== 'invalid_token' ? 'invalid_dpop_proof' : 'invalid_token';
          return void res.writeHead(401, { ...headers, 'www-authenticate': `DPoP error="${error}"` }).end();
        }
        counts.apiAccepted++;
        res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end('{"ok":true}');
      })();
    });
    apis.set(name, origin);
  }
  return { tokenUrl: `${provider}/token`, apiUrl: (name) => `${apis.get(name)!}/data`, counts, refusals, firstRefreshToken };
}

const outcome = (session: Session, url: string): Promise<string> =>
  fetchWithToken(session, new Request(url)).then(
    (response) => String(response.status),
    (error: unknown) => (isSessionError(error) ? error.code : `not a SessionError: ${String(error)}`),
  );

describe.each([
  ['ahead', +120_000],
  ['behind', -120_000],
])('a client clock 2 minutes %s of strict servers', (_, skew) => {
  const clock = { now: () => Date.now() + skew };

  it('client credentials: the refused proof sent once more dated by the server, then every API accepts the first proof', async () => {
    const servers = await startStrictServers();
    const session = createSession({ provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true, clock });
    closers.push(() => session.close());
    expect((await session.getToken()).tokenType).toBe('DPoP');
    expect(servers.counts).toMatchObject({ tokenRequests: 2, tokensIssued: 1, proofRefusals: 1 });
    // The API refusing with RFC 9449's invalid_dpop_proof and the one refusing with invalid_token alike: no refusal.
    for (let i = 0; i < 3; i++) {
      expect(await outcome(session, servers.apiUrl('rfc'))).toBe('200');
      expect(await outcome(session, servers.apiUrl('invalid_token'))).toBe('200');
    }
    expect(servers.counts).toMatchObject({ apiAccepted: 6, apiRefused: 0, tokensIssued: 1 });
  });

  it('a refresh: the refused proof spent no refresh token; the retry is its one use, and the next refresh uses the rotated one', async () => {
    const servers = await startStrictServers();
    const session = createSession({
      provider: refreshTokenGrant({ tokenUrl: servers.tokenUrl, clientId: 'c', refreshToken: servers.firstRefreshToken }),
      sharing: memorySharing(),
      dpop: true,
      clock,
    });
    closers.push(() => session.close());
    const first = await session.getToken();
    expect(first.tokenType).toBe('DPoP');
    const second = await session.getToken({ forceRefresh: true });
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(servers.counts).toMatchObject({ tokensIssued: 2, refreshTokenReuse: 0, proofRefusals: 1 });
    expect(await outcome(session, servers.apiUrl('rfc'))).toBe('200');
    expect(servers.counts.apiRefused).toBe(0);
  });

});

describe('an API whose clock is 2 minutes off (the client and the provider agree)', () => {
  it('its invalid_dpop_proof refusal dates the retry by its Date: accepted, no token request, and later proofs right at once', async () => {
    const servers = await startStrictServers();
    const session = createSession({ provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true });
    closers.push(() => session.close());
    await session.getToken();
    for (let i = 0; i < 3; i++) expect(await outcome(session, servers.apiUrl('rfc-ahead'))).toBe('200');
    // The one refusal: the first proof, dated by our clock; its answer's Date dated the retry and every later proof.
    expect(servers.refusals).toEqual([expect.stringMatching(/^rfc-ahead: iat 1[12]\d s off$/)]);
    expect(servers.counts).toMatchObject({ apiAccepted: 3, tokenRequests: 1, tokensIssued: 1 });
    // The API's offset is its own: the provider and the other APIs are still dated by our clock.
    expect(await outcome(session, servers.apiUrl('rfc'))).toBe('200');
    await session.getToken({ forceRefresh: true });
    expect(servers.counts).toMatchObject({ proofRefusals: 0, tokensIssued: 2, apiRefused: 1 });
  });
});

describe('a server whose Date is garbage or years off', () => {
  it('is not believed, changes no other server proofs, and nothing crashes', async () => {
    const servers = await startStrictServers();
    const session = createSession({
      provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: 'c', clientSecret: 's' }),
      sharing: memorySharing(),
      dpop: true,
      clock: { now: () => Date.now() + 120_000 },
    });
    closers.push(() => session.close());
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (const name of ['hostile-garbage', 'hostile-years', 'rfc', 'invalid_token']) outcomes.push(`${name} ${await outcome(session, servers.apiUrl(name))}`);
    }
    // Each hostile server's Date is ignored: its proofs dated as the provider's clock says, which is its real one.
    expect(outcomes.every((line) => line.endsWith(' 200'))).toBe(true);
    expect(servers.refusals).toEqual([expect.stringMatching(/^token endpoint: iat -1[12]\d s off$/)]);
    expect(servers.counts.tokensIssued).toBe(1);
  });
});

describe('the offset a Date tells (clockOffsetOf)', () => {
  const at = (date: string): Response => new Response(null, { headers: { date } });
  const now = Date.parse('Mon, 07 Dec 2026 01:00:00 GMT');
  it('within 5 s is no offset; beyond, the server clock minus ours (the middle of its second)', () => {
    expect(clockOffsetOf(at('Mon, 07 Dec 2026 01:00:04 GMT'), now)).toBe(0);
    expect(clockOffsetOf(at('Mon, 07 Dec 2026 00:59:55 GMT'), now)).toBe(0);
    expect(clockOffsetOf(at('Mon, 07 Dec 2026 01:02:00 GMT'), now)).toBe(120_500);
    expect(clockOffsetOf(at('Mon, 07 Dec 2026 00:58:00 GMT'), now)).toBe(-119_500);
  });
  it('garbage, another date format, or more than a day off: not believed', () => {
    for (const date of ['not a date', '1765069200', 'Monday, 07-Dec-26 01:02:00 GMT', '2026-12-07T01:02:00Z', 'Mon, 07 Dec 2029 01:00:00 GMT', 'Mon, 07 Dec 1970 01:00:00 GMT']) {
      expect(clockOffsetOf(at(date), now)).toBeUndefined();
    }
    expect(clockOffsetOf(new Response(null), now)).toBeUndefined();
    expect(clockOffsetOf(at('Mon, 07 Dec 2026 01:02:00 GMT'), Number.NaN)).toBeUndefined();
  });
});
