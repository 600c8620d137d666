import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';
import { NONCE_PROBE_WAIT } from '../../src/dpop/nonce-probe.js';
import { startDPoPServers, type DPoPServers } from '../support/dpop-servers.js';

/**
 * Issue 25, "a nonce challenge answered once for all": the first calls to an API that requires its own nonce
 * (RFC 9449 §9) leave together before any nonce is known, and each was challenged. Now one of them probes, the others
 * wait for its answer (bounded) and sign with the nonce it kept; once a server has been called, no call waits again.
 */
const open: Session[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

function dpopSession(servers: { tokenUrl: string; clientId: string; clientSecret: string }): Session {
  const session = createSession({
    provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret, scope: 'api' }),
    sharing: memorySharing(),
    dpop: true,
  });
  open.push(session);
  return session;
}

async function dpopServers(): Promise<DPoPServers> {
  const servers = await startDPoPServers();
  closers.push(() => servers.close());
  return servers;
}

async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => void readBody(req).then(() => handle(req, res)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** `count` calls of `session` to `url` that leave together; their statuses. */
function together(session: Session, url: string, count: number): Promise<number[]> {
  return Promise.all(Array.from({ length: count }, () => fetchWithToken(session, new Request(url)).then((response) => response.status)));
}

describe('the first calls to an API that requires a nonce (one process)', () => {
  it('50 concurrent first calls cost 1 nonce challenge, every proof accepted; two sessions of the process share it', async () => {
    const servers = await dpopServers();
    const session = dpopSession(servers);
    await session.getToken();
    expect(await together(session, servers.apiUrl, 50)).toEqual(Array(50).fill(200));
    expect(servers.counts).toMatchObject({ apiCalls: 51, apiAccepted: 50, apiNonceChallenges: 1, apiRefused: 0, replayedJti: 0 });

    // Another session of this process (another credential) calls the API: the nonce is known, nothing waits.
    const other = createSession({
      provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret, scope: 'api other' }),
      sharing: memorySharing(),
      dpop: true,
    });
    open.push(other);
    expect(await together(other, servers.apiUrl, 10)).toEqual(Array(10).fill(200));
    expect(servers.counts).toMatchObject({ apiNonceChallenges: 1, apiRefused: 0, replayedJti: 0 });
  }, 30_000);

  it('a server that rotates its nonce: each later call is challenged at most once and retried, as before (no probe)', async () => {
    const servers = await dpopServers();
    const session = dpopSession(servers);
    await session.getToken();
    expect(await together(session, servers.apiUrl, 5)).toEqual(Array(5).fill(200));
    servers.rotateApiNonce();
    const before = servers.counts.apiCalls;
    expect(await together(session, servers.apiUrl, 20)).toEqual(Array(20).fill(200));
    // Each call at most one challenge (the old nonce), then accepted: 20 to 40 requests, never a third attempt.
    expect(servers.counts.apiCalls - before).toBeLessThanOrEqual(40);
    expect(servers.counts).toMatchObject({ apiAccepted: 25, apiRefused: 0, replayedJti: 0 });
  }, 30_000);
});

describe('the first calls to an API that never asks for a nonce', () => {
  /**
   * An API that accepts any DPoP call, and answers a batch only when `batch` calls are in (or after 10 s, 503): calls
   * that were serialized never fill it.
   */
  async function barrierApi(): Promise<{ url: string; batch: number; arrivals: number[]; nonces: Array<string | undefined> }> {
    const state = { url: '', batch: 1, arrivals: [] as number[], nonces: [] as Array<string | undefined> };
    let waiting: ServerResponse[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = (status: number): void => {
      clearTimeout(timer);
      for (const res of waiting.splice(0)) res.writeHead(status).end();
    };
    state.url = `${await listen((req, res) => {
      if (req.url === '/token') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'token', token_type: 'DPoP', expires_in: 300 }));
        return;
      }
      state.arrivals.push(performance.now());
      state.nonces.push(decodeJwt(String(req.headers.dpop)).nonce as string | undefined);
      waiting.push(res);
      if (waiting.length >= state.batch) answer(200);
      else if (waiting.length === 1) timer = setTimeout(() => answer(503), 10_000);
    })}/api`;
    closers.push(async () => {
      clearTimeout(timer);
      waiting = [];
    });
    return state;
  }

  it('once the server answered without a challenge, 50 concurrent calls all reach it at once (no call waits for another)', async () => {
    const api = await barrierApi();
    const session = dpopSession({ tokenUrl: api.url.replace(/\/api$/, '/token'), clientId: 'c', clientSecret: 's' });
    await session.getToken();
    // The first call probes alone; no nonce comes back.
    api.batch = 1;
    expect(await together(session, api.url, 1)).toEqual([200]);
    api.batch = 50;
    expect(await together(session, api.url, 50)).toEqual(Array(50).fill(200));
    expect(api.nonces.every((nonce) => nonce === undefined)).toBe(true);
  }, 30_000);

  it('a probe that never gets its answer holds the other first calls no longer than the bound', async () => {
    let first: ServerResponse | undefined;
    const started = performance.now();
    const answeredAt: number[] = [];
    const url = `${await listen((req, res) => {
      if (req.url === '/token') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'token', token_type: 'DPoP', expires_in: 300 }));
        return;
      }
      // The probe: held until the test ends.
      if (first === undefined) first = res;
      else res.writeHead(200).end();
    })}/api`;
    const session = dpopSession({ tokenUrl: url.replace(/\/api$/, '/token'), clientId: 'c', clientSecret: 's' });
    await session.getToken();
    const probe = fetchWithToken(session, new Request(url, { signal: AbortSignal.timeout(60_000) })).then((response) => response.status, () => 0);
    const others = Promise.all(
      Array.from({ length: 10 }, () =>
        fetchWithToken(session, new Request(url)).then((response) => {
          answeredAt.push(performance.now() - started);
          return response.status;
        }),
      ),
    );
    expect(await others).toEqual(Array(10).fill(200));
    // Answered while the probe still hangs: the wait ended at its bound, not with the probe.
    expect(first).toBeDefined();
    expect(first!.writableEnded).toBe(false);
    expect(Math.min(...answeredAt)).toBeGreaterThanOrEqual(NONCE_PROBE_WAIT - 50);
    first!.writeHead(200).end();
    expect(await probe).toBe(200);
  }, 30_000);

  it('measured: the first concurrent calls to a nonce-free server wait for one probe, the later ones for nothing', async () => {
    // Servers 40 ms away that never ask for a nonce, each a new origin (nothing known of it): the first 20 concurrent
    // calls to each, then 20 more, in a process warmed up by the first server.
    const server = async (): Promise<string> =>
      `${await listen((req, res) => {
        if (req.url === '/token') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'token', token_type: 'DPoP', expires_in: 300 }));
          return;
        }
        setTimeout(() => res.writeHead(200).end(), 40);
      })}/api`;
    const batch = async (session: Session, url: string): Promise<number> => {
      const start = performance.now();
      expect(await together(session, url, 20)).toEqual(Array(20).fill(200));
      return performance.now() - start;
    };
    const first: number[] = [];
    const later: number[] = [];
    for (let round = 0; round < 6; round++) {
      const url = await server();
      const session = dpopSession({ tokenUrl: url.replace(/\/api$/, '/token'), clientId: 'c', clientSecret: 's' });
      await session.getToken();
      const cold = await batch(session, url);
      const warm = await batch(session, url);
      if (round === 0) continue;
      first.push(cold);
      later.push(warm);
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.warn(
      `nonce-free API 40 ms away, 20 concurrent calls, median of 5 new servers: first ${median(first).toFixed(0)} ms, later ${median(later).toFixed(0)} ms ` +
        `(first ${first.map((value) => value.toFixed(0)).join(', ')}; later ${later.map((value) => value.toFixed(0)).join(', ')})`,
    );
  }, 60_000);
});
