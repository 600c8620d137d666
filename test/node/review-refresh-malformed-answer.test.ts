import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, refreshTokenGrant } from '../../src/index.js';

// The rule: a refresh token is never sent twice. A request that reached the server and was answered with something
// that is not HTTP (a broken proxy, a server that crashed mid-write: undici's HPE_* parser errors) proves that it
// left: the server may have rotated the token. It was taken as "not sent" (no ECONNRESET-like code) and retried with
// the same refresh token: 2 sends of rt-0 (4 with the default attempts).

let server: Server;
let url: string;
let presented: string[] = [];
let answer: (socket: Socket) => void;

const ok = JSON.stringify({ access_token: 'at-1', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-1' });

beforeAll(async () => {
  server = createServer((socket) => {
    let request = '';
    socket.on('data', (chunk) => {
      request += chunk.toString();
      const end = request.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: *(\d+)/i.exec(request)?.[1] ?? 0);
      if (request.length < end + 4 + length) return;
      presented.push(new URLSearchParams(request.slice(end + 4)).get('refresh_token') ?? '');
      request = '';
      answer(socket);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  presented = [];
});

const codeOf = (error: unknown): string => (isSessionError(error) ? error.code : String(error));
let clients = 0;

const malformed: Array<[string, string]> = [
  ['a status line that is not HTTP', 'garbage\r\n\r\n'],
  ['an invalid status code', 'HTTP/1.1 2000 OK\r\n\r\n'],
  ['an invalid header', 'HTTP/1.1 200 OK\r\nbad header\r\n\r\n'],
];

for (const [what, bytes] of malformed) {
  it(`the server read the refresh request and answered with ${what}: maybe spent, never sent again`, async () => {
    let first = true;
    answer = (socket) => {
      if (first) {
        first = false;
        socket.end(bytes);
        return;
      }
      socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${ok.length}\r\nconnection: close\r\n\r\n${ok}`);
    };
    const options = { tokenUrl: url, clientId: `malformed-${++clients}`, refreshToken: 'rt-0', attempts: 4, backoff: 10, timeout: 2_000 };
    const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing() });
    const outcome = await session.getToken().then(() => 'token', codeOf);
    await session.close();
    // Before the fix: ['rt-0', 'rt-0'] and a token (the second send of a refresh token the server may have rotated).
    expect(presented).toEqual(['rt-0']);
    expect(outcome).toBe('invalid_grant');
  }, 15_000);
}
