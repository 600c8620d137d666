import { expect } from 'vitest';
import type { RedirectServers } from './dpop-redirect-servers.js';

/** What the runtime fixtures (test/deno/fixtures/dpop-redirect.ts, test/workers/fixtures/dpop-redirect.ts) report. */
export interface RedirectResult {
  readonly items: { status?: number; body?: string; code?: string };
  readonly upload: { status?: number; body?: string; code?: string };
  readonly chain: { status?: number; body?: string; code?: string };
  readonly away: { status?: number; body?: string; code?: string };
}

/**
 * The redirect rule (src/dpop/resource-request.ts), whatever the runtime: a same-origin redirect followed with a new
 * proof for the new URL (method and body kept for a 307), 5 redirects at most (`request_failed`), one to another
 * origin followed without the token, a proof or cookies; every proof accepted once, never presented twice; no token
 * request for any of it.
 */
export function expectRedirectRule(result: RedirectResult, servers: RedirectServers): void {
  const { origin, hops } = servers;
  expect(result.items).toEqual({ status: 200, body: JSON.stringify({ path: '/v2/items', body: '' }) });
  expect(result.upload).toEqual({ status: 200, body: JSON.stringify({ path: '/v2/upload', body: 'hello' }) });
  expect(result.chain).toEqual({ code: 'request_failed' });
  expect(result.away).toEqual({ status: 200, body: '{"landed":true}' });
  const atA = hops.filter((hop) => hop.server === 'A');
  // Every request with the token carried its own proof, for its own URL, accepted: none presented twice.
  for (const hop of atA) {
    expect(hop, JSON.stringify(hop)).toMatchObject({ check: 'ok', htu: `${origin}${hop.path}`, authorization: true, dpop: true });
  }
  expect(new Set(atA.map((hop) => hop.jti)).size).toBe(atA.length);
  expect(atA.map((hop) => `${hop.method} ${hop.path}`)).toEqual([
    'GET /v1/items',
    'GET /v2/items',
    'POST /v1/upload',
    'POST /v2/upload',
    // The first request and 5 redirects followed; the 6th is not.
    ...Array.from({ length: 6 }, (_, n) => `GET /chain/${n}`),
    'GET /away',
  ]);
  expect(atA.filter((hop) => hop.method === 'POST').map((hop) => hop.body)).toEqual(['hello', 'hello']);
  // Another origin: reached, with no token, no proof and no cookie.
  expect(hops.filter((hop) => hop.server === 'B')).toEqual([
    { server: 'B', method: 'GET', path: '/landing', authorization: false, dpop: false, cookie: false, body: '' },
  ]);
  expect(servers.tokenRequests).toBe(1);
}
